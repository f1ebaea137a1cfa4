"""Documents Twilio refuses (12100, 12300, 11750) and connections it cannot make
(11202, 11205, 11210), played end to end over real HTTP: each is logged with Twilio's
code and the call goes to the fallback URL with that ErrorCode, or fails with the
application error. What Twilio accepts keeps working."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from .conftest import CALLER, NUMBER
from .target import twiml

APP_ERROR = "We are sorry, an application error has occurred. Goodbye."
DECL = '<?xml version="1.0" encoding="UTF-8"?>'
SAY = "<Response><Say>from the app</Say></Response>"


def xml_bytes(body: bytes, content_type: str = "text/xml; charset=utf-8"):
    """A reply of exactly these bytes (a fresh response per request)."""
    return lambda _params: web.Response(body=body, headers={"Content-Type": content_type})


async def call_with_fallback(target, client, voice_url: str) -> dict:
    target.on("/fallback", twiml("<Say>fallback here</Say>"))
    await client.provision_number(NUMBER, voice_url=voice_url,
                                  voice_fallback_url=target.url("/fallback"))
    return await client.wait_for_call(await client.place_call(CALLER, NUMBER))


def assert_fell_back(emu, target, report: dict, code: int, error_url: str) -> None:
    assert report["errors"][0] == code
    hit = target.at("/fallback")[0]
    assert hit.params["ErrorCode"] == str(code)
    assert hit.params["ErrorUrl"].split("#")[0] == error_url
    assert report["heard"] == [{"verb": "Say", "text": "fallback here", "language": "en-US"}]
    assert any(e["code"] == code and e["call_sid"] == report["sid"] and e["url"] == error_url
               for e in emu.log)


REFUSED = {
    "blank line before the declaration": "\n" + DECL + SAY,
    "spaces before the declaration": "   " + DECL + SAY,
    "CRLF before the declaration": "\r\n" + DECL + "\r\n" + SAY,
    "comment before the declaration": "<!-- generated -->" + DECL + SAY,
    "declaration after the root starts": "<Response>" + DECL + "<Say>x</Say></Response>",
    "unclosed element": DECL + "<Response><Say>unclosed</Response>",
    "unquoted attribute": DECL + "<Response><Say loop=2>x</Say></Response>",
    "unescaped ampersand": DECL + "<Response><Say>Tom & Jerry</Say></Response>",
    "undefined entity": DECL + "<Response><Say>&nbsp;</Say></Response>",
    "two root elements": DECL + "<Response/><Response/>",
    "text after the root": DECL + "<Response/>trailing text",
    "root is not Response": DECL + "<Foo><Say>x</Say></Foo>",
    "root in the wrong case": DECL + "<response><Say>x</Say></response>",
    "internal entity in a DOCTYPE": (
        DECL + '<!DOCTYPE Response [<!ENTITY who "the entity">]>'
        "<Response><Say>&who;</Say></Response>"),
    "empty body": "",
    "whitespace-only body": " \n\t\n",
}


@pytest.mark.parametrize("body", list(REFUSED.values()), ids=list(REFUSED))
async def test_refused_document_is_12100_and_goes_to_fallback(emu, target, client, body):
    url = target.on("/voice", body)
    report = await call_with_fallback(target, client, url)
    assert_fell_back(emu, target, report, 12100, url)
    assert all("from the app" not in h.get("text", "") for h in report["heard"])


async def test_external_entity_is_never_expanded_nor_fetched(emu, target, client, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    target.on("/dtd", "<!ENTITY leak 'from a DTD'>")
    url = target.on("/voice", (
        DECL + f'<!DOCTYPE Response [<!ENTITY file SYSTEM "file://{secret}">'
        f'<!ENTITY % remote SYSTEM "{target.url("/dtd")}"> %remote;]>'
        "<Response><Say>&file; &leak;</Say></Response>"))
    report = await call_with_fallback(target, client, url)
    assert_fell_back(emu, target, report, 12100, url)
    assert "TOP-SECRET" not in str(report) and target.at("/dtd") == []
    assert any("DOCTYPE" in e["message"] for e in emu.log if e["code"] == 12100)


async def test_refused_document_without_fallback_is_an_application_error(emu, target, client):
    target.on("/voice", "\n" + DECL + SAY)
    await client.provision_number(NUMBER, voice_url=target.url("/voice"))
    report = await client.wait_for_call(await client.place_call(CALLER, NUMBER))
    assert report["errors"] == [12100]
    assert [h["text"] for h in report["heard"]] == [APP_ERROR]
    assert report["status"] == "completed"


async def test_refused_fallback_too_is_an_application_error(emu, target, client):
    target.on("/voice", "  " + DECL + SAY)
    target.on("/fallback", "\n" + DECL + "<Response><Say>fallback here</Say></Response>")
    await client.provision_number(NUMBER, voice_url=target.url("/voice"),
                                  voice_fallback_url=target.url("/fallback"))
    report = await client.wait_for_call(await client.place_call(CALLER, NUMBER))
    assert report["errors"] == [12100, 12100]
    assert [h["text"] for h in report["heard"]] == [APP_ERROR]


ACCEPTED = {
    "no declaration": (SAY.encode(), "text/xml"),
    "whitespace before a root without declaration": (b"\n  \n" + SAY.encode(), "text/xml"),
    "pretty-printed with comments": (
        (DECL + "\n<!-- menu -->\n<Response>\n  <Say>from the app</Say>\n  <!-- end -->\n"
         "</Response>\n\n").encode(), "text/xml"),
    "text/xml with charset": ((DECL + SAY).encode(), "text/xml; charset=utf-8"),
    "application/xml with charset": ((DECL + SAY).encode(), "Application/XML; charset=UTF-8"),
    "text/html": ((DECL + SAY).encode(), "text/html; charset=utf-8"),
    "UTF-8 byte order mark": (b"\xef\xbb\xbf" + (DECL + SAY).encode(), "text/xml"),
    "ISO-8859-1 declared and sent": (
        b'<?xml version="1.0" encoding="ISO-8859-1"?><Response><Say>caf\xe9</Say></Response>',
        "text/xml; charset=ISO-8859-1"),
    "character references": (b"<Response><Say>from &#116;he app &amp; co</Say></Response>",
                             "text/xml"),
}


@pytest.mark.parametrize(("body", "ctype"), list(ACCEPTED.values()), ids=list(ACCEPTED))
async def test_documents_twilio_accepts_still_run(emu, target, client, body, ctype):
    target.on("/voice", xml_bytes(body, ctype))
    report = await call_with_fallback(target, client, target.url("/voice"))
    assert report["errors"] == []
    assert target.at("/fallback") == []
    assert len(report["heard"]) == 1 and report["heard"][0]["text"] in (
        "from the app", "café", "from the app & co")


@pytest.mark.parametrize("ctype", ["application/json", "application/octet-stream",
                                   "application/xhtml+xml", "image/png"])
async def test_wrong_content_type_is_12300_and_goes_to_fallback(emu, target, client, ctype):
    url = target.on("/voice", xml_bytes((DECL + SAY).encode(), ctype))
    report = await call_with_fallback(target, client, url)
    assert_fell_back(emu, target, report, 12300, url)


@contextlib.asynccontextmanager
async def raw_http(response: bytes) -> AsyncIterator[str]:
    """A server that answers every request with exactly ``response`` (status line and
    headers included), for what aiohttp's server would not send: no Content-Type."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"(?i)content-length:\s*(\d+)", head)
        await reader.readexactly(int(length.group(1)) if length else 0)
        writer.write(response)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/voice"
    finally:
        server.close()
        await server.wait_closed()


async def test_missing_content_type_is_12300(emu, target, client):
    body = (DECL + SAY).encode()
    response = (b"HTTP/1.1 200 OK\r\nContent-Length: " + str(len(body)).encode() +
                b"\r\nConnection: close\r\n\r\n" + body)
    async with raw_http(response) as url:
        report = await call_with_fallback(target, client, url)
    assert_fell_back(emu, target, report, 12300, url)
    assert any("no Content-Type" in e["message"] for e in emu.log if e["code"] == 12300)


async def test_body_over_64_kb_is_11750(emu, target, client):
    filler = "<Pause length=\"1\"/>" * (64 * 1024 // 19 + 1)
    url = target.on("/voice", DECL + f"<Response><Say>big</Say>{filler}</Response>")
    report = await call_with_fallback(target, client, url)
    assert_fell_back(emu, target, report, 11750, url)


async def test_just_under_64_kb_runs(emu, target, client):
    head = DECL + "<Response><Say>from the app</Say>"
    pad = 64 * 1024 - len(head) - len("</Response>")
    target.on("/voice", head + " " * pad + "</Response>")
    report = await call_with_fallback(target, client, target.url("/voice"))
    assert report["errors"] == [] and report["heard"][0]["text"] == "from the app"


# ---- connections ------------------------------------------------------------------------
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_refused_connection_is_11202_then_fallback(emu, target, client):
    url = f"http://127.0.0.1:{closed_port()}/voice"
    report = await call_with_fallback(target, client, url)
    assert_fell_back(emu, target, report, 11202, url)
    assert 11205 not in report["errors"]
    assert any("refused (2 attempts)" in e["message"] for e in emu.log if e["code"] == 11202)


@pytest.fixture
def unanswered_port():
    """A loopback port whose listen queue is full: SYNs go unanswered, so a connect
    times out instead of being refused (Linux drops them rather than resetting)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(3):
        c = socket.socket()
        c.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            c.connect(("127.0.0.1", port))
        fillers.append(c)
    time.sleep(0.1)
    yield port
    for c in fillers:
        c.close()
    server.close()


async def test_connect_timeout_is_11205_after_two_attempts(emu, target, client,
                                                           unanswered_port):
    # #ct= shortens Twilio's 5 s TCP connect timeout (milliseconds); default rc: 2 tries.
    url = f"http://127.0.0.1:{unanswered_port}/voice"
    started = time.monotonic()
    report = await call_with_fallback(target, client, url + "#ct=250")
    assert time.monotonic() - started >= 0.5  # two connect attempts of 250 ms each
    assert_fell_back(emu, target, report, 11205, url)
    assert 11202 not in report["errors"]
    assert any("connect timed out" in e["message"] for e in emu.log if e["code"] == 11205)


async def test_total_budget_covers_the_connect_attempts(emu, target, client, unanswered_port):
    # Two 400 ms attempts do not fit in a 500 ms total: 11205 once the total runs out.
    url = f"http://127.0.0.1:{unanswered_port}/voice"
    started = time.monotonic()
    report = await call_with_fallback(target, client, url + "#ct=400&tt=500")
    assert time.monotonic() - started < 2.0
    assert_fell_back(emu, target, report, 11205, url)
    assert any("0.5 s total" in e["message"] for e in emu.log if e["code"] == 11205)


async def test_unknown_host_is_11210(emu, target, client):
    url = "http://no-such-host.invalid/voice"  # .invalid never resolves (RFC 6761)
    report = await call_with_fallback(target, client, url + "#tt=5000")
    assert_fell_back(emu, target, report, 11210, url)


# ---- messaging ----------------------------------------------------------------------------
async def _sms_with_fallback(twilio, target, client, reply) -> list:
    target.on("/sms", reply)
    target.on("/sms-fallback", twiml("<Message>fallback reply</Message>"))
    await client.provision_number(NUMBER, sms_url=target.url("/sms"))
    number = (await twilio.incoming_phone_numbers.list_async(phone_number=NUMBER))[0]
    await twilio.incoming_phone_numbers(number.sid).update_async(
        sms_fallback_url=target.url("/sms-fallback"))
    await client.send_sms(CALLER, NUMBER, "hello")
    return [m.body for m in await twilio.messages.list_async()
            if m.direction == "outbound-reply"]


@pytest.mark.parametrize(("reply", "code"), [
    ("\n" + DECL + "<Response><Message>app reply</Message></Response>", 12100),
    (DECL + "<Message>app reply</Message>", 12100),
    (DECL + '<!DOCTYPE Response [<!ENTITY r "app reply">]>'
     "<Response><Message>&r;</Message></Response>", 12100),
    ((200, "application/json", '{"message": "app reply"}'), 12300),
], ids=["blank line before the declaration", "root is not Response", "DOCTYPE",
        "application/json"])
async def test_refused_sms_reply_goes_to_sms_fallback(emu, twilio, target, client, reply, code):
    replies = await _sms_with_fallback(twilio, target, client, reply)
    fb = target.at("/sms-fallback")[0].params
    assert fb["ErrorCode"] == str(code) and fb["ErrorUrl"] == target.url("/sms")
    assert replies == ["fallback reply"]
    assert [e["code"] for e in emu.log if e["code"]] == [code]


async def test_sms_text_plain_reply_is_sent_as_a_message(emu, twilio, target, client):
    replies = await _sms_with_fallback(twilio, target, client, (200, "text/plain", "thanks!"))
    assert replies == ["thanks!"] and target.at("/sms-fallback") == []
    assert [e for e in emu.log if e["code"]] == []


async def test_sms_empty_answer_sends_nothing_and_logs_nothing(emu, twilio, target, client):
    replies = await _sms_with_fallback(twilio, target, client, lambda _p: web.Response(
        status=204))
    assert replies == [] and target.at("/sms-fallback") == []
    assert [e for e in emu.log if e["code"]] == []

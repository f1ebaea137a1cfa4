"""twilio-python against the emulator: Calls, status callbacks, errors, OAI shapes."""

from __future__ import annotations

import asyncio
import json
import socket

import aiohttp
import pytest
from twilio.base.exceptions import TwilioRestException

from .conftest import ACCOUNT, CALLER, NUMBER, OAI_SPEC, TOKEN
from .target import twiml

OAI = OAI_SPEC
SPEC = json.loads(OAI.read_text())



async def test_create_fetch_list_pages_update(emu, twilio, target, client):
    target.on("/out", twiml('<Pause length="50"/>'))
    created = []
    for i in range(5):
        created.append(await twilio.calls.create_async(
            to=f"+1415555020{i}", from_=NUMBER, url=target.url("/out")))
    fetched = await twilio.calls(created[0].sid).fetch_async()
    assert fetched.sid == created[0].sid and fetched.to == "+14155550200"
    listed = await twilio.calls.list_async(page_size=2)
    assert {c.sid for c in listed} >= {c.sid for c in created}
    only = await twilio.calls.list_async(to="+14155550203", page_size=2)
    assert [c.sid for c in only] == [created[3].sid]
    target.on("/new", twiml("<Say>moved</Say>"))
    await twilio.calls(created[1].sid).update_async(url=target.url("/new"))
    await twilio.calls(created[2].sid).update_async(twiml="<Response><Say>inline</Say></Response>")
    await twilio.calls(created[3].sid).update_async(status="completed")
    r1 = await client.wait_for_call(created[1].sid)
    r2 = await client.wait_for_call(created[2].sid)
    r3 = await client.wait_for_call(created[3].sid)
    assert r1["heard"][-1]["text"] == "moved"
    assert r2["heard"][-1]["text"] == "inline"
    assert r3["status"] in ("completed", "canceled")  # it may still have been ringing
    with pytest.raises(TwilioRestException) as err:
        await twilio.calls(created[3].sid).update_async(url=target.url("/new"))
    assert err.value.status == 400
    with pytest.raises(TwilioRestException) as err:
        await twilio.calls("CA" + "0" * 32).fetch_async()
    assert err.value.status == 404 and err.value.code == 20404


async def test_auth_errors_and_api_keys(emu):
    url = f"{emu.base_url}/2010-04-01/Accounts/{ACCOUNT}/Calls.json"
    async with aiohttp.ClientSession() as s:
        async with s.get(url, auth=aiohttp.BasicAuth(ACCOUNT, "wrong")) as r:
            assert r.status == 401
            body = await r.json()
            assert body["code"] == 20003 and set(body) == {"code", "message", "more_info",
                                                           "status"}
        async with s.get(url, auth=aiohttp.BasicAuth("SK" + "b2" * 16, "key-secret")) as r:
            assert r.status == 200
        async with s.post(url, data={"From": NUMBER}, auth=aiohttp.BasicAuth(ACCOUNT, TOKEN)) as r:
            assert r.status == 400 and (await r.json())["code"] == 21201


async def test_status_callbacks_sequence(emu, twilio, target, client):
    target.on("/out", twiml("<Say>hi</Say>"))
    target.on("/status", "")
    call = await twilio.calls.create_async(
        to="+14155550199", from_=NUMBER, url=target.url("/out"),
        status_callback=target.url("/status"),
        status_callback_event=["initiated", "ringing", "answered", "completed"])
    await client.wait_for_call(call.sid)
    for _ in range(50):
        if len(target.at("/status")) == 4:
            break
        await target.arrived.wait()
    hits = target.at("/status")
    assert [h.params["CallStatus"] for h in hits] == ["initiated", "ringing", "in-progress",
                                                       "completed"]
    assert [h.params["SequenceNumber"] for h in hits] == ["0", "1", "2", "3"]
    assert hits[-1].params["CallbackSource"] == "call-progress-events"
    assert "CallDuration" in hits[-1].params and hits[-1].params["Timestamp"].endswith("+0000")
    assert all(h.valid for h in hits)
    assert target.at("/out")[0].params["Direction"] == "outbound-api"


async def test_callee_busy_and_no_answer(emu, twilio, target, client):
    await client.set_callee("+14155550111", [{"answer": "busy"}])
    await client.set_callee("+14155550112", [{"answer": "no-answer"}])
    a = await twilio.calls.create_async(to="+14155550111", from_=NUMBER, url=target.url("/x"))
    b = await twilio.calls.create_async(to="+14155550112", from_=NUMBER, url=target.url("/x"),
                                        timeout=20)
    assert (await client.wait_for_call(a.sid))["status"] == "busy"
    rb = await client.wait_for_call(b.sid)
    assert rb["status"] == "no-answer" and rb["answered"] is False


async def test_fallback_gets_error_code(emu, target, client):
    target.on("/voice", (500, "text/plain", "boom"))
    target.on("/fallback", twiml("<Say>fallback here</Say>"))
    await client.provision_number(NUMBER, voice_url=target.url("/voice"),
                                  voice_fallback_url=target.url("/fallback"))
    report = await client.wait_for_call(await client.place_call(CALLER, NUMBER))
    hit = target.at("/fallback")[0]
    assert hit.params["ErrorCode"] == "11217"  # HTTP error response code
    assert hit.params["ErrorUrl"] == target.url("/voice")
    assert report["heard"][0]["text"] == "fallback here"
    assert 11217 in report["errors"]
    assert any(e["code"] == 11217 and e["call_sid"] == report["sid"] and
               e["http_status"] == 500 for e in emu.log)


@pytest.mark.parametrize(("reply", "code"), [
    ((200, "text/xml", "<Response><Say>unclosed</Response>"), 12100),
    ((200, "application/json", "{}"), 12300),
    ((200, "text/xml", "<Response><say>lower</say></Response>"), 12200),
])
async def test_application_error_without_fallback(emu, target, client, reply, code):
    target.on("/voice", reply)
    await client.provision_number(NUMBER, voice_url=target.url("/voice"))
    report = await client.wait_for_call(await client.place_call(CALLER, NUMBER))
    assert report["heard"] == [{"verb": "Say", "language": "en-US", "text":
                                "We are sorry, an application error has occurred. Goodbye."}]
    assert code in report["errors"]
    assert report["status"] == "completed"


async def test_refused_webhook_logs_11202_without_fallback(emu, client):
    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    await client.provision_number(NUMBER, voice_url=f"http://127.0.0.1:{port}/voice#rc=0")
    report = await client.wait_for_call(await client.place_call(CALLER, NUMBER))
    assert report["errors"] == [11202]  # TCP connection refused (not 11205, a timeout)
    assert report["heard"][0]["text"].startswith("We are sorry, an application error")


async def test_slow_webhook_times_out_with_11205_then_fallback(emu, target, client):
    async def slow(_params):
        await asyncio.sleep(1.0)
        return twiml("<Say>too late</Say>")

    target.on("/slow", slow)
    target.on("/fallback", twiml("<Say>fallback</Say>"))
    # #tt= shortens Twilio's 15 s total budget (milliseconds) so the test stays quick.
    await client.provision_number(NUMBER, voice_url=target.url("/slow#tt=300"),
                                  voice_fallback_url=target.url("/fallback"))
    report = await client.wait_for_call(await client.place_call(CALLER, NUMBER))
    assert report["errors"][0] == 11205
    assert target.at("/fallback")[0].params["ErrorCode"] == "11205"
    assert report["heard"][0]["text"] == "fallback"


@pytest.mark.parametrize("status", [404, 503])
async def test_http_error_status_is_11217_without_fallback(emu, target, client, status):
    target.on("/voice", (status, "text/html", "<h1>nope</h1>"))
    await client.provision_number(NUMBER, voice_url=target.url("/voice"))
    report = await client.wait_for_call(await client.place_call(CALLER, NUMBER))
    assert report["errors"] == [11217]
    assert report["heard"][0]["text"].startswith("We are sorry, an application error")


async def test_rest_responses_match_openapi(emu, twilio, target, client):
    from openapi_core import OpenAPI
    from openapi_core.testing import MockRequest, MockResponse

    api = OpenAPI.from_dict(SPEC)
    target.on("/out", twiml('<Enqueue>support</Enqueue>'))
    await client.provision_number(NUMBER, voice_url=target.url("/out"))
    call = await twilio.calls.create_async(to="+14155550123", from_=NUMBER, url=target.url("/out"))
    await twilio.messages.create_async(to="+14155550123", from_=NUMBER, body="hi")
    base = f"/2010-04-01/Accounts/{ACCOUNT}"
    queue_sid = None
    for _ in range(100):
        queues = await twilio.queues.list_async()
        if queues and queues[0].current_size:
            queue_sid = queues[0].sid
            break
        await target.arrived.wait()
    paths = [f"{base}/Calls.json", f"{base}/Calls/{call.sid}.json", f"{base}/Queues.json",
             f"{base}/Queues/{queue_sid}.json", f"{base}/Queues/{queue_sid}/Members.json",
             f"{base}/Messages.json", f"{base}/IncomingPhoneNumbers.json",
             f"{base}/Conferences.json", f"{base}/Recordings.json"]
    async with aiohttp.ClientSession(auth=aiohttp.BasicAuth(ACCOUNT, TOKEN)) as s:
        for path in paths:
            async with s.get(emu.base_url + path) as r:
                data = await r.read()
                assert r.status == 200, path
                req = MockRequest("https://api.twilio.com", "get", path)
                resp = MockResponse(data, status_code=200, content_type="application/json")
                api.validate_response(req, resp)
    await twilio.calls(call.sid).update_async(status="completed")

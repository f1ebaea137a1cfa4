"""Every write the emulator implements, checked against Twilio's OpenAPI spec (status code
and response schema), and error bodies checked for Twilio's shape and codes."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from .conftest import ACCOUNT, CALLER, NUMBER, OAI_SPEC, TOKEN, until
from .target import twiml

OAI = OAI_SPEC
BASE = f"/2010-04-01/Accounts/{ACCOUNT}"



@pytest.fixture(scope="module")
def api():
    from openapi_core import OpenAPI

    return OpenAPI.from_dict(json.loads(OAI.read_text()))


class Rest:
    """Raw REST calls whose responses are validated against the spec."""

    def __init__(self, api: Any, base_url: str, session: aiohttp.ClientSession) -> None:
        self.api, self.base_url, self.session = api, base_url, session
        self.checked: list[tuple[str, str, int]] = []

    async def call(self, method: str, path: str, expect: int,
                   data: dict[str, str] | None = None) -> dict[str, Any]:
        from openapi_core.testing import MockRequest, MockResponse

        async with self.session.request(method, self.base_url + path, data=data) as r:
            body = await r.read()
            status = r.status
            ctype = r.headers.get("Content-Type", "").split(";")[0]
        assert status == expect, (method, path, status, body[:300])
        req = MockRequest("https://api.twilio.com", method.lower(), path)
        resp = MockResponse(body, status_code=status,
                            content_type=ctype if body else "application/json")
        self.api.validate_response(req, resp)
        if status == 204:
            assert body == b""
        self.checked.append((method, path, status))
        return json.loads(body) if body else {}

    async def error(self, method: str, path: str, status: int, code: int,
                    data: dict[str, str] | None = None) -> dict[str, Any]:
        async with self.session.request(method, self.base_url + path, data=data) as r:
            assert r.status == status, (method, path, r.status, await r.text())
            assert r.headers["Content-Type"].startswith("application/json")
            body = await r.json()
        assert set(body) == {"code", "message", "more_info", "status"}, body
        assert body["code"] == code and body["status"] == status, body
        assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
        assert isinstance(body["message"], str) and body["message"]
        return body


@pytest.fixture
async def rest(api, emu):
    async with aiohttp.ClientSession(auth=aiohttp.BasicAuth(ACCOUNT, TOKEN)) as s:
        yield Rest(api, emu.base_url, s)



async def test_writes_match_openapi(emu, target, client, rest):
    target.on("/voice", twiml('<Enqueue action="/after">support</Enqueue>'))
    target.on("/moved", twiml('<Pause length="5"/>'))
    # IncomingPhoneNumbers create / update / delete
    number = await rest.call("POST", f"{BASE}/IncomingPhoneNumbers.json", 201,
                             {"PhoneNumber": NUMBER, "VoiceUrl": target.url("/voice")})
    extra = await rest.call("POST", f"{BASE}/IncomingPhoneNumbers.json", 201,
                            {"PhoneNumber": "+15005550009"})
    updated = await rest.call("POST", f"{BASE}/IncomingPhoneNumbers/{extra['sid']}.json", 200,
                              {"SmsUrl": target.url("/sms"), "FriendlyName": "spare"})
    assert updated["sms_url"] == target.url("/sms") and updated["friendly_name"] == "spare"
    await rest.call("DELETE", f"{BASE}/IncomingPhoneNumbers/{extra['sid']}.json", 204)
    assert number["voice_url"] == target.url("/voice")

    # Queues create; Queue Members update (dequeue)
    queue = await rest.call("POST", f"{BASE}/Queues.json", 201,
                            {"FriendlyName": "support", "MaxSize": "10"})
    assert queue["max_size"] == 10
    caller = await client.place_call(CALLER, NUMBER)
    await until(lambda: emu.engine.queues.by_sid[queue["sid"]].members)
    member = await rest.call("POST", f"{BASE}/Queues/{queue['sid']}/Members/{caller}.json",
                             200, {"Url": target.url("/moved")})
    assert member["call_sid"] == caller

    # Calls create (201) and update (200): redirect, then hang up
    call = await rest.call("POST", f"{BASE}/Calls.json", 201,
                           {"To": "+14155550123", "From": NUMBER,
                            "Twiml": '<Response><Pause length="600"/></Response>'})
    moved = await rest.call("POST", f"{BASE}/Calls/{call['sid']}.json", 200,
                            {"Url": target.url("/moved"), "Method": "GET"})
    done = await rest.call("POST", f"{BASE}/Calls/{call['sid']}.json", 200,
                           {"Status": "completed"})
    assert moved["sid"] == done["sid"] == call["sid"]
    recorded = await rest.call("POST", f"{BASE}/Calls.json", 201,
                               {"To": "+14155550124", "From": NUMBER, "Record": "true",
                                "Twiml": "<Response><Say>recorded words</Say></Response>"})
    await client.wait_for_call(recorded["sid"])

    # Recordings delete (the REST call above was recorded)
    await until(lambda: any(r.status == "completed"
                             for r in emu.engine.recordings.by_sid.values()))
    listed = await rest.call("GET", f"{BASE}/Recordings.json", 200)
    rec_sid = listed["recordings"][0]["sid"]
    await rest.call("DELETE", f"{BASE}/Recordings/{rec_sid}.json", 204)
    await rest.error("GET", f"{BASE}/Recordings/{rec_sid}.json", 404, 20404)

    # Conference Participants create / update / delete, Conference update. The clock is
    # held (no virtual-time jumps) and moved by hand, so the parties stay put meanwhile.
    with emu.engine.clock.busy():
        added = await rest.call("POST", f"{BASE}/Conferences/room9/Participants.json", 201,
                                {"From": NUMBER, "To": "+14155550166", "Label": "customer"})
        agent = await rest.call("POST", f"{BASE}/Conferences/room9/Participants.json", 201,
                                {"From": NUMBER, "To": "+14155550167"})
        conf_sid = added["conference_sid"]
        conf = emu.engine.conferences.by_sid[conf_sid]
        await emu.engine.clock.advance(2)
        await until(lambda: len(conf.participants) == 2 and all(
            p.status == "connected" for p in conf.participants.values()))
        part = f"{BASE}/Conferences/{conf_sid}/Participants"
        held = await rest.call("POST", f"{part}/{added['call_sid']}.json", 200,
                               {"Hold": "true", "Muted": "true"})
        assert held["hold"] is True and held["muted"] is True
        await rest.call("DELETE", f"{part}/{agent['call_sid']}.json", 204)
        ended = await rest.call("POST", f"{BASE}/Conferences/{conf_sid}.json", 200,
                                {"Status": "completed"})
        assert ended["status"] == "completed"

    # Messages create (201)
    msg = await rest.call("POST", f"{BASE}/Messages.json", 201,
                          {"To": "+14155550123", "From": NUMBER, "Body": "hello"})
    assert msg["status"] == "queued" and msg["direction"] == "outbound-api"

    assert len(rest.checked) >= 17


async def test_error_shapes_and_codes(emu, target, rest):
    calls = f"{BASE}/Calls.json"
    url = target.url("/x")
    await rest.error("POST", calls, 400, 21201, {"From": NUMBER, "Url": url})
    await rest.error("POST", calls, 400, 21213, {"To": CALLER, "Url": url})
    await rest.error("POST", calls, 400, 21205, {"To": CALLER, "From": NUMBER})
    await rest.error("POST", calls, 400, 21205, {"To": CALLER, "From": NUMBER, "Url": url,
                                                 "Twiml": "<Response/>"})
    await rest.error("POST", f"{BASE}/Calls/CA{'0' * 32}.json", 404, 20404, {"Url": url})
    msgs = f"{BASE}/Messages.json"
    await rest.error("POST", msgs, 400, 21617, {"To": CALLER, "From": NUMBER,
                                                "Body": "x" * 1601})
    await rest.error("POST", msgs, 400, 21604, {"From": NUMBER, "Body": "hi"})
    await rest.error("POST", msgs, 400, 21603, {"To": CALLER, "Body": "hi"})
    await rest.error("POST", msgs, 400, 21602, {"To": CALLER, "From": NUMBER})
    await rest.error("DELETE", f"{BASE}/Recordings/RE{'0' * 32}.json", 404, 20404)
    await rest.error("GET", f"{BASE}/Nonsense.json", 404, 20404)
    await rest.error("DELETE", f"{BASE}/IncomingPhoneNumbers/PN{'0' * 32}.json", 404, 20404)
    await rest.error("POST", f"{BASE}/Queues.json", 400, 20001, {})
    await rest.error("POST", f"{BASE}/Conferences/CF{'0' * 32}.json", 404, 20404,
                     {"Status": "completed"})
    # exactly 1600 characters is fine
    await rest.call("POST", msgs, 201, {"To": CALLER, "From": NUMBER, "Body": "y" * 1600})
    async with aiohttp.ClientSession() as anon, anon.post(rest.base_url + calls,
                                                           data={"To": CALLER}) as r:
        body = await r.json()
        assert r.status == 401 and body["code"] == 20003 and body["status"] == 401
        assert set(body) == {"code", "message", "more_info", "status"}

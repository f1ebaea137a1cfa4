"""Say/Play/Pause/Gather/Hangup/Reject/Redirect against a real HTTP target."""

from __future__ import annotations

from .conftest import CALLER, NUMBER
from .target import twiml


async def test_say_then_end_and_signed_webhook(emu, target, client):
    url = target.on("/voice", twiml('<Say language="en-GB">Hello there</Say><Play>/a.mp3</Play>'))
    await client.provision_number(NUMBER, voice_url=url)
    sid = await client.place_call(CALLER, NUMBER)
    report = await client.wait_for_call(sid)
    assert report["status"] == "completed"
    assert report["answered"] is True
    assert report["heard"][0] == {"verb": "Say", "text": "Hello there", "language": "en-GB"}
    assert report["heard"][1] == {"verb": "Play", "url": target.url("/a.mp3")}
    hit = target.at("/voice")[0]
    assert hit.valid
    assert hit.params["CallStatus"] == "ringing"
    assert hit.params["Direction"] == "inbound"
    assert hit.params["From"] == CALLER and hit.params["Called"] == NUMBER
    assert hit.headers["User-Agent"] == "TwilioProxy/1.1"
    assert hit.headers["I-Twilio-Idempotency-Token"]
    assert any(e["event"] == "verb" and e["verb"] == "Say" for e in report["trace"])


async def test_gather_digits_goes_to_action(emu, target, client):
    target.on("/voice", twiml('<Gather numDigits="1" action="/menu"><Say>Press 1</Say></Gather>'
                              "<Say>No input</Say>"))
    target.on("/menu", twiml("<Say>Thanks</Say><Hangup/>"))
    await client.provision_number(NUMBER, voice_url=target.url("/voice"))
    sid = await client.place_call(CALLER, NUMBER, script=[{"press": "1"}])
    report = await client.wait_for_call(sid)
    assert target.at("/menu")[0].params["Digits"] == "1"
    assert [h["text"] for h in report["heard"]] == ["Press 1", "Thanks"]
    assert all(h.valid for h in target.hits)


async def test_gather_no_input_continues_then_call_ends(emu, target, client):
    target.on("/voice", twiml('<Gather timeout="3"><Say>Choose</Say></Gather><Say>Bye</Say>'))
    await client.provision_number(NUMBER, voice_url=target.url("/voice"))
    sid = await client.place_call(CALLER, NUMBER)
    report = await client.wait_for_call(sid)
    assert [h["text"] for h in report["heard"]] == ["Choose", "Bye"]
    assert len(target.at("/voice")) == 1


async def test_gather_finish_on_key_and_default_action(emu, target, client):
    calls = []

    def voice(params):
        calls.append(params)
        if "Digits" in params:
            return twiml("<Hangup/>")
        return twiml("<Gather><Say>Account number</Say></Gather>")

    target.on("/voice", voice)
    await client.provision_number(NUMBER, voice_url=target.url("/voice"))
    sid = await client.place_call(CALLER, NUMBER, script=[{"press": "1234#"}])
    await client.wait_for_call(sid)
    assert calls[-1]["Digits"] == "1234"


async def test_gather_speech(emu, target, client):
    target.on("/voice", twiml('<Gather input="speech" action="/heard"><Say>Speak</Say></Gather>'))
    await client.provision_number(NUMBER, voice_url=target.url("/voice"))
    sid = await client.place_call(CALLER, NUMBER, script=[{"say": "billing please"}])
    await client.wait_for_call(sid)
    hit = target.at("/heard")[0]
    assert hit.params["SpeechResult"] == "billing please"
    assert float(hit.params["Confidence"]) > 0


async def test_reject_is_never_answered(emu, target, client):
    target.on("/voice", twiml('<Reject reason="busy"/>'))
    target.on("/status", "")
    await client.provision_number(NUMBER, voice_url=target.url("/voice"),
                                  status_callback=target.url("/status"))
    sid = await client.place_call(CALLER, NUMBER, script=[{"say": "hello"}])
    report = await client.wait_for_call(sid)
    assert report["answered"] is False
    assert report["status"] == "busy"
    assert report["duration"] == 0


async def test_reject_default_reason(emu, target, client):
    target.on("/voice", twiml("<Reject/>"))
    await client.provision_number(NUMBER, voice_url=target.url("/voice"))
    report = await client.wait_for_call(await client.place_call(CALLER, NUMBER))
    assert report["status"] == "no-answer" and report["answered"] is False


async def test_hangup_first_answers(emu, target, client):
    target.on("/voice", twiml("<Hangup/>"))
    await client.provision_number(NUMBER, voice_url=target.url("/voice"))
    report = await client.wait_for_call(await client.place_call(CALLER, NUMBER))
    assert report["answered"] is True and report["status"] == "completed"


async def test_redirect_and_pause_take_virtual_time(emu, target, client):
    target.on("/voice", twiml('<Pause length="30"/><Redirect method="POST">/next</Redirect>'))
    target.on("/next", twiml("<Say>after</Say>"))
    await client.provision_number(NUMBER, voice_url=target.url("/voice"))
    report = await client.wait_for_call(await client.place_call(CALLER, NUMBER))
    assert report["duration"] >= 30
    assert target.at("/next")[0].method == "POST"


async def test_caller_hangup_step(emu, target, client):
    target.on("/voice", twiml('<Pause length="100"/>'))
    await client.provision_number(NUMBER, voice_url=target.url("/voice"))
    sid = await client.place_call(CALLER, NUMBER, script=[{"wait": 5}, {"hangup": True}])
    report = await client.wait_for_call(sid)
    assert report["status"] == "completed"
    assert 4 <= report["duration"] <= 6

"""Queues (wait loop, Dial Queue, REST dequeue), agent phones, conferences, recordings."""

from __future__ import annotations

import io
import wave

import aiohttp

from twilio_emulator import AgentPhone

from .conftest import ACCOUNT, CALLER, NUMBER, TOKEN, until
from .target import twiml


async def test_queue_wait_loop_and_hangup_result(emu, target, client):
    target.on("/voice", twiml('<Enqueue action="/after" waitUrl="/wait">support</Enqueue>'))
    target.on("/wait", twiml('<Say>Please hold</Say><Pause length="10"/>'))
    await client.provision_number(NUMBER, voice_url=target.url("/voice"))
    sid = await client.place_call(CALLER, NUMBER, script=[{"wait": 35}, {"hangup": True}])
    report = await client.wait_for_call(sid)
    waits = target.at("/wait")
    assert len(waits) >= 3
    assert waits[0].params["QueuePosition"] == "1"
    assert waits[0].params["CurrentQueueSize"] == "1"
    assert {"QueueSid", "QueueTime", "AvgQueueTime"} <= set(waits[0].params)
    assert int(waits[-1].params["QueueTime"]) > int(waits[0].params["QueueTime"])
    await until(lambda: target.at("/after"))
    after = target.at("/after")[0].params
    assert after["QueueResult"] == "hangup" and 34 <= int(after["QueueTime"]) <= 36
    assert report["queue_result"] == "hangup"


async def test_leave_runs_next_verb(emu, target, client):
    target.on("/voice", twiml('<Enqueue waitUrl="/wait">closed</Enqueue><Say>Closed</Say>'))
    target.on("/wait", twiml("<Leave/>"))
    await client.provision_number(NUMBER, voice_url=target.url("/voice"))
    report = await client.wait_for_call(await client.place_call(CALLER, NUMBER))
    assert report["queue_result"] == "leave"
    assert report["heard"][-1]["text"] == "Closed"


async def test_dial_queue_bridges_with_head(emu, target, client):
    target.on("/voice", twiml('<Enqueue action="/after">sales</Enqueue><Say>Bye</Say>'))
    target.on("/after", twiml("<Say>after queue</Say>"))
    target.on("/agent", twiml('<Dial action="/dialed"><Queue url="/whisper">sales</Queue></Dial>'))
    target.on("/whisper", twiml("<Say>Connecting you</Say>"))
    await client.provision_number(NUMBER, voice_url=target.url("/voice"))
    await client.provision_number("+15005550007", voice_url=target.url("/agent"))
    caller = await client.place_call(CALLER, NUMBER)
    await until(lambda: target.at("/voice"))
    agent = await client.place_call("+14155550999", "+15005550007", hangup_after=20)
    ra = await client.wait_for_call(agent)
    rc = await client.wait_for_call(caller)
    dialed = target.at("/dialed")[0].params
    assert dialed["DialCallStatus"] == "completed" and dialed["DialCallSid"] == caller
    assert target.at("/whisper")[0].params["DequeingCallSid"] == agent
    assert target.at("/after")[0].params["QueueResult"] == "bridged"
    assert rc["heard"][-1]["text"] == "after queue"
    assert ra["status"] == "completed"


async def test_rest_dequeue_member(emu, target, client):
    target.on("/voice", twiml('<Enqueue action="/after">q1</Enqueue>'))
    target.on("/moved", twiml("<Say>moved out</Say>"))
    await client.provision_number(NUMBER, voice_url=target.url("/voice"))
    sid = await client.place_call(CALLER, NUMBER)
    queue = next(iter(emu.engine.queues.by_sid.values()), None)
    await until(lambda: emu.engine.queues.by_sid)
    queue = next(iter(emu.engine.queues.by_sid.values()))
    url = (f"{emu.base_url}/2010-04-01/Accounts/{ACCOUNT}/Queues/{queue.sid}"
           f"/Members/{sid}.json")
    async with aiohttp.ClientSession(auth=aiohttp.BasicAuth(ACCOUNT, TOKEN)) as s:
        async with s.post(url, data={"Url": target.url("/moved")}) as r:
            assert r.status == 200
        async with s.post(url, data={"Url": target.url("/moved")}) as r:
            assert r.status == 400
    report = await client.wait_for_call(sid)
    assert report["heard"][-1]["text"] == "moved out"
    await until(lambda: target.at("/after"))
    assert target.at("/after")[0].params["QueueResult"] == "redirected"


async def test_dial_client_accept_reject_ignore(emu, target, client):
    alice = AgentPhone(emu.base_url, "alice", mode="accept", answer_delay=2, talk_seconds=30)
    bob = AgentPhone(emu.base_url, "bob", mode="reject", answer_delay=1)
    carol = AgentPhone(emu.base_url, "carol", mode="ignore")
    for p in (alice, bob, carol):
        await p.connect()
    try:
        target.on("/voice", lambda p: twiml(
            f'<Dial action="/dialed" timeout="10"><Client>{p["To"]}</Client></Dial>'))
        for who in ("alice", "bob", "carol"):
            target.on(f"/{who}", twiml(
                f'<Dial action="/dialed-{who}" timeout="10"><Client>{who}'
                '<Parameter name="ticket" value="42"/></Client></Dial>'))
            await client.provision_number(f"+1500555{len(who)}{who[0] == 'a'}0{ord(who[0])}",
                                          voice_url=target.url(f"/{who}"))
        results = {}
        for who in ("alice", "bob", "carol"):
            number = f"+1500555{len(who)}{who[0] == 'a'}0{ord(who[0])}"
            sid = await client.place_call(CALLER, number)
            results[who] = await client.wait_for_call(sid)
        assert target.at("/dialed-alice")[0].params["DialCallStatus"] == "completed"
        assert 29 <= int(target.at("/dialed-alice")[0].params["DialCallDuration"]) <= 31
        assert target.at("/dialed-bob")[0].params["DialCallStatus"] == "busy"
        assert target.at("/dialed-carol")[0].params["DialCallStatus"] == "no-answer"
        assert alice.offers[0]["params"] == {"ticket": "42"}
        await until(lambda: alice.calls_ended and carol.messages[-1]["type"] == "canceled")
    finally:
        for p in (alice, bob, carol):
            await p.close()


async def test_record_media_wav_and_mp3(emu, target, client):
    target.on("/voice", twiml('<Say>Leave a message</Say><Record action="/rec" '
                              'recordingStatusCallback="/recstatus"/>'))
    target.on("/rec", twiml("<Hangup/>"))
    await client.provision_number(NUMBER, voice_url=target.url("/voice"))
    sid = await client.place_call(CALLER, NUMBER, script=[{"say": "my order is late"},
                                                            {"press": "#"}])
    report = await client.wait_for_call(sid)
    rec = target.at("/rec")[0].params
    assert rec["Digits"] == "#" and int(rec["RecordingDuration"]) >= 1
    assert report["recordings"] == [rec["RecordingSid"]]
    async with aiohttp.ClientSession() as s:
        async with s.get(rec["RecordingUrl"]) as r:
            assert r.headers["Content-Type"] == "audio/x-wav"
            with wave.open(io.BytesIO(await r.read())) as w:
                assert w.getframerate() == 8000 and w.getnchannels() == 1
        async with s.get(rec["RecordingUrl"] + ".mp3") as r:
            assert r.headers["Content-Type"] == "audio/mpeg"
            assert len(await r.read()) > 100
    await until(lambda: target.at("/recstatus"))
    status = target.at("/recstatus")[0].params
    assert status["RecordingStatus"] == "completed" and status["CallSid"] == sid


async def test_empty_record_continues_without_action(emu, target, client):
    target.on("/voice", twiml('<Record action="/rec" timeout="3"/><Say>nothing</Say>'))
    await client.provision_number(NUMBER, voice_url=target.url("/voice"))
    report = await client.wait_for_call(await client.place_call(CALLER, NUMBER))
    assert not target.at("/rec") and report["heard"][-1]["text"] == "nothing"


async def test_dial_record_dual_channel(emu, target, client):
    await client.set_callee("+14155550177", [{"say": "agent speaking"}, {"hangup": True}])
    target.on("/voice", twiml('<Dial record="record-from-answer-dual" action="/done">'
                              "+14155550177</Dial>"))
    await client.provision_number(NUMBER, voice_url=target.url("/voice"))
    await client.place_call(CALLER, NUMBER, script=[{"say": "hello agent"}])
    await until(lambda: target.at("/done"))
    done = target.at("/done")[0].params
    async with aiohttp.ClientSession() as s:
        async with s.get(done["RecordingUrl"] + ".wav?RequestedChannels=2") as r:
            with wave.open(io.BytesIO(await r.read())) as w:
                assert w.getnchannels() == 2 and w.getframerate() == 8000
        async with s.get(done["RecordingUrl"] + ".wav?RequestedChannels=1") as r:
            with wave.open(io.BytesIO(await r.read())) as w:
                assert w.getnchannels() == 1


async def test_conference_join_hold_mute(emu, target, client):
    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.rest import Client

    target.on("/voice", twiml('<Dial><Conference statusCallback="/conf" '
                              'statusCallbackEvent="start end join leave mute hold">'
                              "room1</Conference></Dial>"))
    target.on("/conf", "")
    target.on("/hold", twiml("<Say>on hold</Say>"))
    await client.provision_number(NUMBER, voice_url=target.url("/voice"))
    sid = await client.place_call(CALLER, NUMBER, hangup_after=60)
    http = AsyncTwilioHttpClient()
    tw = Client(ACCOUNT, TOKEN, http_client=http)
    tw.api.base_url = emu.base_url
    await until(lambda: emu.engine.conferences.by_sid)
    conf = (await tw.conferences.list_async(friendly_name="room1"))[0]
    added = await tw.conferences(conf.sid).participants.create_async(
        from_=NUMBER, to="+14155550166")
    await until(lambda: len(emu.engine.conferences.by_sid[conf.sid].participants) == 2
                 and all(p.status == "connected" for p in
                         emu.engine.conferences.by_sid[conf.sid].participants.values()))
    await tw.conferences(conf.sid).participants(sid).update_async(
        hold=True, hold_url=target.url("/hold"))
    await tw.conferences(conf.sid).participants(added.call_sid).update_async(muted=True)
    p = await tw.conferences(conf.sid).participants(added.call_sid).fetch_async()
    assert p.muted is True
    await until(lambda: target.at("/hold"))
    assert target.at("/hold")[0].method == "GET"
    await tw.conferences(conf.sid).update_async(status="completed")
    await client.wait_for_call(sid)
    await until(lambda: any(h.params["StatusCallbackEvent"] == "conference-end"
                             for h in target.at("/conf")))
    events = [h.params["StatusCallbackEvent"] for h in target.at("/conf")]
    assert events[:2] == ["participant-join", "conference-start"]
    assert {"participant-hold", "participant-mute", "participant-leave"} <= set(events)
    await http.session.close()

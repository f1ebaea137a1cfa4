"""The virtual clock under load: a slow app makes calls slower, never skips their verbs.

Time may only jump once every call is blocked on a timer, a request in flight or input
that has not come. A call that was just woken (its Say ended) is still on its way to its
next verb or webhook in zero clock time; jumping then skipped straight to the next
registered timer, often the 4 h call cap.
"""

from __future__ import annotations

import asyncio
import time

from twilio_emulator.clock import VirtualClock

from .conftest import NUMBER
from .target import twiml

CALLS = 150
APP_SECONDS = 0.2
MENU = ('<Say>Welcome to the test line</Say>'
        '<Gather numDigits="1" action="/menu{n}"><Say>Press one now</Say></Gather>'
        '<Say>No input</Say>')


def _work(seconds: float) -> None:
    """Keep the CPU busy, as handling other calls would."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def test_clock_waits_for_a_woken_task_to_reach_its_next_timer():
    clock = VirtualClock()
    clock.start()
    try:
        cap = asyncio.ensure_future(clock.sleep(100))
        woke_at: list[float] = []

        async def caller() -> None:
            await clock.sleep(1)
            for _ in range(60):  # zero clock time, many loop passes, each one short
                _work(0.0005)
                await asyncio.sleep(0)
            await clock.sleep(1)
            woke_at.append(clock.now())

        await asyncio.wait_for(caller(), 10)
        assert woke_at == [2.0]
        assert not cap.done()
    finally:
        await clock.stop()


async def test_many_calls_against_a_slow_app_run_their_ivr_as_scripted(emu, target, client):
    async def slow(body: str) -> str:
        await asyncio.sleep(APP_SECONDS)
        return body

    target.on("/voice", lambda p: slow(twiml(MENU.format(n=2))))
    target.on("/menu2", lambda p: slow(twiml(MENU.format(n=3))))
    target.on("/menu3", lambda p: slow(twiml('<Say>Thank you</Say><Pause length="3"/>'
                                             "<Hangup/>")))
    await client.provision_number(NUMBER, voice_url=target.url("/voice"))
    sids = await asyncio.gather(*(
        client.place_call(f"+1415555{n:04d}", NUMBER, script=[{"press": "1"}, {"press": "1"}])
        for n in range(CALLS)))
    reports = await asyncio.gather(*(client.wait_for_call(sid, timeout=60) for sid in sids))
    expected = ["Welcome to the test line", "Press one now"] * 2 + ["Thank you"]
    wrong = [(r["sid"], [h["text"] for h in r["heard"]], r["duration"]) for r in reports
             if [h["text"] for h in r["heard"]] != expected or r["duration"] > 60]
    assert wrong == []
    assert all(r["status"] == "completed" for r in reports)
    assert emu.log == []
    assert len(target.at("/menu3")) == CALLS


async def test_queue_holds_a_thousand_by_default_and_a_full_one_logs_14207(emu, target, client):
    """Twilio's default MaxSize is 1000 (it was once 100): 150 callers all wait; a queue
    created with MaxSize=1 turns the second caller away with queue-full and warning 14207."""
    target.on("/voice", twiml('<Enqueue action="/after" waitUrl="/wait">support</Enqueue>'))
    target.on("/wait", twiml('<Pause length="5"/><Leave/>'))
    target.on("/after", twiml("<Hangup/>"))
    await client.provision_number(NUMBER, voice_url=target.url("/voice"))
    sids = await asyncio.gather(*(client.place_call(f"+1415555{n:04d}", NUMBER)
                                  for n in range(CALLS)))
    await asyncio.gather(*(client.wait_for_call(sid, timeout=60) for sid in sids))
    assert {h.params["QueueResult"] for h in target.at("/after")} == {"leave"}
    assert {h.params["MaxQueueSize"] for h in target.at("/wait")} == {"1000"}
    assert emu.log == []

    target.on("/voice", twiml('<Enqueue action="/after" waitUrl="/wait">small</Enqueue>'))
    emu.engine.queues.create("small", max_size=1)
    first = await client.place_call("+14155550001", NUMBER)
    second = await client.place_call("+14155550002", NUMBER)
    report = await client.wait_for_call(second, timeout=60)
    await client.wait_for_call(first, timeout=60)
    assert report["queue_result"] == "queue-full"
    assert report["errors"] == [14207]
    assert [e["code"] for e in emu.log] == [14207]

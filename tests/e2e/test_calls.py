"""Whole calls through the emulator: what the caller heard, what the app stored."""

from __future__ import annotations

from callcenter.routing.models import TaskStatus
from callcenter.telephony.models import Outcome
from e2e.conftest import Centre


async def test_answered_call_reaches_agent_and_ticket(centre: Centre):
    agent = await centre.add_agent(talk_seconds=45)
    agent_user_id = agent.user_id
    report = await centre.call([{"press": "2"}])
    assert report["status"] == "completed"
    heard = " ".join(item.get("text", "") for item in report["heard"])
    assert "Thank you for calling" in heard

    call = await centre.settled(report["sid"])
    assert call.outcome == Outcome.answered
    task, queue = await centre.task(call)
    assert queue == "support"
    assert call.agent_user_id == agent_user_id
    # Twilio's QueueTime: the ring of the agent (a few seconds) plus, on a loaded machine, a
    # round of the wait loop the virtual clock may skip through before the offer lands.
    assert task.wait_seconds is not None and task.wait_seconds <= 40
    assert task.status == TaskStatus.completed and task.reason == "answered"
    assert call.talk_seconds is not None and 40 <= call.talk_seconds <= 50
    event = await centre.ticket_event(call)
    assert event is not None and "answered by" in event.body and "talked 4" in event.body
    assert centre.phones[0].offers, "the agent's phone rang"


async def test_blocked_caller_is_rejected_and_never_answered(centre: Centre):
    from callcenter.blocklist import service as blocklist
    from callcenter.blocklist.models import BlockKind

    await blocklist.add(centre.db, kind=BlockKind.exact, value="+14155550166", reason="abuse")
    await centre.db.commit()
    await centre.add_agent()
    report = await centre.call([{"press": "2"}], from_="+14155550166")
    assert report["answered"] is False
    assert report["heard"] == []
    assert report["status"] in ("busy", "no-answer")
    call = await centre.settled(report["sid"])
    assert call.outcome == Outcome.blocked
    assert await centre.ticket_event(call) is None
    assert centre.phones[0].offers == [], "no agent is disturbed by a blocked caller"


async def test_caller_who_hangs_up_in_queue_is_abandoned_with_wait_time(centre: Centre):
    await centre.add_agent(mode="ignore")  # signed in, but never picks up
    report = await centre.call([{"press": "2"}, {"wait": 20}, {"hangup": True}])
    assert report["queue_result"] == "hangup"
    call = await centre.settled(report["sid"])
    assert call.outcome == Outcome.abandoned
    task, _queue = await centre.task(call)
    assert task.wait_seconds is not None and 15 <= task.wait_seconds <= 25
    assert task.status == TaskStatus.canceled and task.reason == "abandoned"
    event = await centre.ticket_event(call)
    assert event is not None and "abandoned" in event.body


async def test_no_agent_signed_in_offers_voicemail_that_lands_on_ticket(centre: Centre):
    report = await centre.call([{"press": "2"}, {"say": "My order 1234 never arrived."}])
    heard = " ".join(item.get("text", "") for item in report["heard"])
    assert "leave your name" in heard
    assert report["recordings"], "the caller's message was recorded"
    call = await centre.settled(report["sid"])
    assert call.outcome == Outcome.voicemail
    assert call.recording_url
    event = await centre.ticket_event(call)
    assert event is not None and event.kind.value == "voicemail"
    assert event.data["recording_url"] == call.recording_url


async def test_agent_who_rejects_is_skipped_for_the_next(centre: Centre):
    first = await centre.add_agent(mode="reject")
    second = await centre.add_agent(talk_seconds=20)
    second_user = second.user_id
    assert first.id != second.id
    report = await centre.call([{"press": "1"}])
    call = await centre.settled(report["sid"])
    assert call.outcome == Outcome.answered
    assert call.agent_user_id == second_user
    assert centre.phones[0].offers, "the first agent was offered the call"
    assert centre.phones[1].connected, "the second agent took it"


async def test_speech_choice_reaches_the_billing_queue(centre: Centre):
    await centre.add_agent(talk_seconds=10)
    report = await centre.call([{"say": "billing"}])
    call = await centre.settled(report["sid"])
    assert (await centre.task(call))[1] == "billing"
    assert call.outcome == Outcome.answered


async def test_caller_waits_while_the_only_agent_is_busy(centre: Centre):
    """Two callers, one agent: one is answered at once, the other when that call ends."""
    import asyncio

    await centre.add_agent(talk_seconds=60, answer_delay=1)
    reports = await asyncio.gather(
        centre.call([{"press": "2"}]),
        centre.call([{"press": "2"}], from_="+14155550101"),
    )
    waits, outcomes = [], []
    for report in reports:
        call = await centre.settled(report["sid"])
        waits.append((await centre.task(call))[0].wait_seconds or 0)
        outcomes.append(call.outcome)
    assert outcomes == [Outcome.answered, Outcome.answered]
    shorter, longer = sorted(waits)
    assert longer >= 55, "the second caller waited through the first call (60 s of talk)"
    assert longer - shorter >= 50

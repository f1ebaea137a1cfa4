"""Whole calls through the emulator: what the caller heard, what the app stored."""

from __future__ import annotations

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
    assert call.queue == "support"
    assert call.agent_id == agent_user_id
    assert call.wait_seconds is not None and call.wait_seconds < 30
    assert call.talk_seconds is not None and 40 <= call.talk_seconds <= 50
    event = await centre.ticket_event(call)
    assert event is not None and "answered by" in event.body and "talked 4" in event.body
    assert centre.phones[0].offers, "the agent's phone rang"

"""When things go wrong mid-call: the caller still hears something sensible, and Twilio's
repeated or late callbacks do not count a call twice."""

from __future__ import annotations

import aiohttp
import pytest
from sqlalchemy import func, select, text
from twilio.request_validator import RequestValidator

from callcenter.config import Settings
from callcenter.telephony.models import CallEvent, CallStatus, Outcome
from callcenter.tickets.models import TicketEvent
from e2e.conftest import Centre


# Breaking the schema is a real fault; PostgreSQL's database is shared by the session's
# tests, so this runs on SQLite (a copy per test). The code path is the same on both.
@pytest.mark.backends("sqlite")
async def test_handler_that_raises_still_answers_the_caller(centre: Centre):
    # The handler has written the call row when the customer lookup hits the missing table.
    await centre.db.execute(text("DROP TABLE identity"))
    await centre.db.commit()
    report = await centre.call([{"press": "2"}])
    heard = " ".join(item.get("text", "") for item in report["heard"])
    assert "something went wrong on our side" in heard
    assert report["status"] == "completed"
    assert report["errors"] == [], "Twilio saw a valid TwiML answer, not an error"


async def _replay(settings: Settings, url: str, params: dict[str, str]) -> int:
    """Send a status callback again, exactly as Twilio would (signed, form-encoded)."""
    signature = RequestValidator(settings.twilio_auth_token.get_secret_value()).compute_signature(
        url, params
    )
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=params, headers={"X-Twilio-Signature": signature}) as response,
    ):
        return response.status


async def test_repeated_and_late_callbacks_count_the_call_once(centre: Centre, settings: Settings):
    await centre.add_agent(talk_seconds=30)
    report = await centre.call([{"press": "2"}])
    call = await centre.settled(report["sid"])
    call_id, sid = call.id, call.sid
    status_url = f"{centre.app_url}/twilio/voice/status"
    trace = (await centre.control.get_call(sid))["trace"]  # callbacks trail the call's end
    delivered = [
        item for item in trace if item["event"] == "callback" and item["url"] == status_url
    ]
    assert delivered, "the emulator delivered the caller's final status callback"
    final = delivered[-1]["params"]
    assert await _replay(settings, status_url, final) == 204  # a duplicate
    # A `ringing` that Twilio sent earlier but that reaches us only now: stored as its own
    # callback (another sequence number), it must not reopen the finished call.
    late = dict(final, CallStatus="ringing", SequenceNumber=str(int(final["SequenceNumber"]) + 1))
    late.pop("CallDuration", None)
    assert await _replay(settings, status_url, late) == 204
    stored = await centre.db.scalar(
        select(func.count()).select_from(CallEvent).where(CallEvent.call_sid == sid)
    )
    assert stored == 2, "the duplicate was dropped, the late one kept"
    call = await centre.settled(sid)
    assert call.status == CallStatus.completed
    assert call.outcome == Outcome.answered
    events = await centre.db.scalar(
        select(func.count()).select_from(TicketEvent).where(TicketEvent.call_id == call_id)
    )
    assert events == 1

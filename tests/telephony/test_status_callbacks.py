"""Status callbacks arrive late, twice, and out of order; each call is counted once."""

from __future__ import annotations

from quart.testing import QuartClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from twilio_requests import call_sid, post_signed, voice_params

from callcenter.config import Settings
from callcenter.telephony import service as calls
from callcenter.telephony.models import CallEvent, CallStatus, Outcome
from callcenter.tickets.models import Ticket, TicketEvent


async def _status(client, settings, sid: str, status: str, sequence: int, **extra) -> int:
    params = voice_params(
        settings,
        sid=sid,
        status=status,
        SequenceNumber=sequence,
        CallbackSource="call-progress-events",
        Timestamp="Wed, 25 Nov 2026 03:00:00 +0000",
        **extra,
    )
    response = await post_signed(client, settings, "/twilio/voice/status", params)
    return response.status_code


async def test_duplicate_and_out_of_order_callbacks_count_once(
    client: QuartClient, settings: Settings, db_session: AsyncSession
):
    sid = call_sid()
    await post_signed(client, settings, "/twilio/voice/incoming", voice_params(settings, sid=sid))
    assert await _status(client, settings, sid, "completed", 3, CallDuration=42) == 204
    assert await _status(client, settings, sid, "completed", 3, CallDuration=42) == 204
    assert await _status(client, settings, sid, "ringing", 1) == 204
    assert await _status(client, settings, sid, "in-progress", 2) == 204

    call = await calls.get_by_sid(db_session, sid=sid)
    assert call is not None
    assert call.status == CallStatus.completed, "a late ringing must not reopen the call"
    assert call.duration_seconds == 42
    assert call.outcome == Outcome.left_in_ivr
    events = await db_session.scalar(select(func.count()).select_from(CallEvent))
    assert events == 3, "the repeated callback is stored once"
    landed = await db_session.scalar(select(func.count()).select_from(TicketEvent))
    assert landed == 1, "the call lands on one ticket, once"
    ticket = await db_session.scalar(select(Ticket))
    assert ticket is not None and ticket.subject == "Call from +14155550100"


async def test_second_call_from_same_customer_lands_on_the_open_ticket(
    client: QuartClient, settings: Settings, db_session: AsyncSession
):
    for sequence, sid in enumerate([call_sid(), call_sid()]):
        await post_signed(
            client, settings, "/twilio/voice/incoming", voice_params(settings, sid=sid)
        )
        await _status(client, settings, sid, "completed", sequence + 1)
    tickets = await db_session.scalar(select(func.count()).select_from(Ticket))
    events = await db_session.scalar(select(func.count()).select_from(TicketEvent))
    assert (tickets, events) == (1, 2)


async def test_callback_for_unknown_call_is_accepted_and_ignored(
    client: QuartClient, settings: Settings, db_session: AsyncSession
):
    assert await _status(client, settings, call_sid(), "completed", 1) == 204
    assert await db_session.scalar(select(func.count()).select_from(Ticket)) == 0

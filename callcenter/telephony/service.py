"""Calls as the app records them: created by the first webhook, finished by status callbacks.

Status callbacks are asynchronous: they arrive late, twice, or out of order. Each is stored
once (unique on call, source and SequenceNumber) and a call's status only moves forward:
a late `ringing` never undoes `completed`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import object_session

from callcenter import events
from callcenter.db import utcnow
from callcenter.telephony import params as webhook_params
from callcenter.telephony.models import Call, CallDirection, CallEvent, CallStatus, Outcome
from callcenter.upsert import insert_ignoring_conflicts

# How far along a call is; a status never replaces one further along.
_PROGRESS = {
    CallStatus.queued: 0,
    CallStatus.initiated: 1,
    CallStatus.ringing: 2,
    CallStatus.in_progress: 3,
}


FINAL_STATUSES = [status for status in CallStatus if status.is_final]
# Twilio's CallbackSource for a call's own status callbacks.
PROGRESS_SOURCE = "call-progress-events"


def _progress(status: CallStatus) -> int:
    return 9 if status.is_final else _PROGRESS[status]


def parse_status(raw: str) -> CallStatus | None:
    try:
        return CallStatus(raw)
    except ValueError:
        return None


async def get_by_sid(session: AsyncSession, *, sid: str, lock: bool = False) -> Call | None:
    """The call; `lock` holds its row until commit (PostgreSQL FOR UPDATE; SQLite's
    transactions already hold the write lock), for webhooks that read and then change it."""
    query = select(Call).where(Call.sid == sid)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


async def get(session: AsyncSession, *, call_id: int, lock: bool = False) -> Call | None:
    query = select(Call).where(Call.id == call_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


async def start_call(
    session: AsyncSession,
    *,
    sid: str,
    from_number: str,
    to_number: str,
    direction: CallDirection = CallDirection.inbound,
    customer_id: int | None = None,
    flow_version_id: Any = None,
) -> tuple[Call, bool]:
    """Record a new call: (the call, whether it is new). A repeated first webhook (Twilio
    retrying, or the fallback URL) or a status callback that came first returns the same
    row. `flow_version_id`: the IVR flow version the call starts in (an id, or a scalar
    subquery the INSERT reads it with)."""
    now = utcnow()
    inserted = await session.scalar(
        insert_ignoring_conflicts(
            session,
            Call,
            sid=sid,
            direction=direction,
            customer_id=customer_id,
            from_number=from_number,
            to_number=to_number,
            flow_version_id=flow_version_id,
            status=CallStatus.ringing,
            status_sequence=-1,
            started_at=now,
            created_at=now,
        )
        .returning(Call)
        .execution_options(populate_existing=True)
    )
    if inserted is not None:
        events.record(session, "telephony.call.started", call_id=inserted.id, call_sid=sid)
        return inserted, True
    existing = await get_by_sid(session, sid=sid, lock=True)
    assert existing is not None
    if existing.flow_version_id is None and flow_version_id is not None:
        # Its status callback made the row: the version is read now.
        existing.flow_version_id = (
            flow_version_id if isinstance(flow_version_id, int)
            else await session.scalar(select(flow_version_id))
        )
    return existing, False


async def record_callback(session: AsyncSession, *, params: dict[str, str]) -> bool:
    """Store a status callback once; False when this exact callback was seen before."""
    sequence = params.get("SequenceNumber", "")
    event = CallEvent(
        call_sid=params["CallSid"],
        source=params.get("CallbackSource", PROGRESS_SOURCE)[:40],
        sequence_number=int(sequence) if sequence.isascii() and sequence.isdigit() else -1,
        status=params.get("CallStatus", "")[:20],
        occurred_at=webhook_params.timestamp(params.get("Timestamp", "")),
        payload=params,
    )
    if event.sequence_number < 0:
        # No sequence (e.g. a hand-made callback): dedupe on the status instead.
        event.sequence_number = 1000 + _progress(parse_status(event.status) or CallStatus.queued)
    try:
        async with session.begin_nested():
            session.add(event)
    except IntegrityError:
        return False
    return True


def apply_status(call: Call, *, status: CallStatus, sequence: int, duration: int | None) -> bool:
    """Move the call to `status` if that is progress; True when anything changed."""
    if call.status.is_final or _progress(status) < _progress(call.status):
        return False
    if _progress(status) == _progress(call.status) and sequence <= call.status_sequence:
        return False
    call.status = status
    call.status_sequence = max(sequence, call.status_sequence)
    now = utcnow()
    if status == CallStatus.in_progress and call.answered_at is None:
        call.answered_at = now
    if status.is_final:
        call.ended_at = now
        if duration is not None:
            call.duration_seconds = duration
        elif call.answered_at is not None:
            call.duration_seconds = int((now - call.answered_at).total_seconds())
        _settle_times(call)
        if (session := object_session(call)) is not None:
            events.record(
                session, "telephony.call.ended",
                call_id=call.id, call_sid=call.sid, outcome=call.outcome,
            )
    return True


def _settle_times(call: Call) -> None:
    """Fill talk time from our own clock where Twilio's figure did not arrive, and the
    outcome where nothing else set it (the call flows correct `left-in-ivr` for a caller
    who hung up in a queue).

    The agent leg's CallDuration is preferred: it is what the agent lived through,
    whichever instance (or clock) saw each webhook.
    """
    assert call.ended_at is not None
    if call.connected_at is not None and call.talk_seconds is None:
        call.talk_seconds = max(0, round((call.ended_at - call.connected_at).total_seconds()))
    if call.outcome is None:
        if call.connected_at is not None:
            call.outcome = Outcome.answered
        elif call.status == CallStatus.completed:
            call.outcome = Outcome.left_in_ivr
        else:
            call.outcome = Outcome.failed


def mark_connected(call: Call, *, agent_user_id: int) -> None:
    call.connected_at = utcnow()
    call.agent_user_id = agent_user_id


def record_talk_time(call: Call, *, talk_seconds: int | None) -> None:
    """The agent's leg ended after CallDuration seconds: that is the conversation's length."""
    if talk_seconds is not None:
        call.talk_seconds = talk_seconds


async def finished_calls(
    session: AsyncSession, *, ended_after: dt.datetime, ended_before: dt.datetime
) -> list[Call]:
    """Calls that ended in a window of time (the worker checks each reached its ticket)."""
    query = select(Call).where(
        Call.status.in_(FINAL_STATUSES),
        Call.ended_at >= ended_after,
        Call.ended_at < ended_before,
        Call.outcome.is_distinct_from(Outcome.blocked),
    )
    return list(await session.scalars(query))


async def stale_calls(session: AsyncSession, *, older_than: dt.datetime) -> list[Call]:
    """Calls still open long after they began: their final callback may have been lost."""
    query = select(Call).where(Call.status.not_in(FINAL_STATUSES), Call.started_at < older_than)
    return list(await session.scalars(query))


async def live_sids(session: AsyncSession, *, call_ids: list[int]) -> list[str]:
    """The sids of those calls that are not over yet, as far as we have heard."""
    if not call_ids:
        return []
    query = select(Call.sid).where(Call.id.in_(call_ids), Call.status.not_in(FINAL_STATUSES))
    return list(await session.scalars(query))


async def reassign_customer(session: AsyncSession, *, from_id: int, to_id: int) -> None:
    """Calls of a customer merged into another become the survivor's."""
    await session.execute(
        update(Call).where(Call.customer_id == from_id).values(customer_id=to_id)
    )

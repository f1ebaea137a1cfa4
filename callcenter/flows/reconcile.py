"""The worker's safety net for webhooks Twilio never delivered (or we failed to handle).

Twilio gives up on a status callback that fails, and a crash can lose one in flight. Left
alone, a call would stay "in progress" forever and never reach its ticket, or an agent
would stay "busy" after their call. The worker asks Twilio's REST API about what is still
open after a while, and applies what it says, as the lost callback would have.
"""

from __future__ import annotations

import datetime as dt
import logging

from callcenter.db import transaction, utcnow
from callcenter.flows import Telephony, inbound, landing, offers
from callcenter.routing import tasks
from callcenter.telephony import service as calls
from callcenter.telephony.gateway import GatewayError
from callcenter.tickets import service as tickets

log = logging.getLogger("callcenter.flows.reconcile")

# A sequence number above any Twilio sends for a call, so the reconciled status applies.
RECONCILED_SEQUENCE = 10_000
# How far back finished calls are checked for a ticket (the worker runs every few minutes).
LANDING_LOOKBACK = dt.timedelta(days=1)


async def reconcile(tel: Telephony, *, older_than: dt.timedelta) -> int:
    """One pass: close stale calls and offers, land finished calls; returns how many changed."""
    changed = await _close_stale_calls(tel, older_than=older_than)
    changed += await _close_stale_offers(tel, older_than=older_than)
    async with transaction(tel.sessionmaker) as session:
        window_end = utcnow() - older_than
        finished = await calls.finished_calls(
            session, ended_after=window_end - LANDING_LOOKBACK, ended_before=window_end
        )
        for call in finished:
            if await tickets.event_for_call(session, call_id=call.id) is not None:
                continue
            await landing.land_on_ticket(session, call=call, force=True)
            log.info("telephony.reconcile.landed", extra={"call_sid": call.sid})
            changed += 1
    return changed


async def _fetch(tel: Telephony, sid: str) -> tuple[str, int | None] | None:
    try:
        return await tel.gateway.fetch_status(call_sid=sid)
    except GatewayError as error:
        log.warning("telephony.reconcile.failed", extra={"call_sid": sid, "code": error.code})
        return None


def _callback(sid: str, status: str, duration: int | None) -> dict[str, str]:
    params = {
        "CallSid": sid,
        "CallStatus": status,
        "SequenceNumber": str(RECONCILED_SEQUENCE),
        "CallbackSource": "reconciled",
    }
    if duration is not None:
        params["CallDuration"] = str(duration)
    return params


async def _close_stale_calls(tel: Telephony, *, older_than: dt.timedelta) -> int:
    async with transaction(tel.sessionmaker) as session:
        stale = [c.sid for c in await calls.stale_calls(session, older_than=utcnow() - older_than)]
    closed = 0
    for sid in stale:
        fetched = await _fetch(tel, sid)
        parsed = calls.parse_status(fetched[0]) if fetched else None
        if fetched is None or parsed is None or not parsed.is_final:
            continue
        async with transaction(tel.sessionmaker) as session:
            hangups = await inbound.call_status(session, params=_callback(sid, *fetched))
        for hangup in hangups:
            await offers.end_leg(tel, hangup)
        closed += 1
        log.info("telephony.reconcile.closed", extra={"call_sid": sid, "status": fetched[0]})
    return closed


async def _close_stale_offers(tel: Telephony, *, older_than: dt.timedelta) -> int:
    """Offers whose agent leg ended without our hearing of it: close them, free the agent."""
    now = utcnow()
    async with transaction(tel.sessionmaker) as session:
        stale = [
            (reservation.id, reservation.agent_call_sid)
            for reservation in await tasks.stale_reservations(
                session,
                ringing_before=now
                - dt.timedelta(seconds=tel.agent_ring_seconds)
                - offers.RING_GRACE,
                answered_before=now - older_than,
            )
        ]
    closed = 0
    for reservation_id, agent_call_sid in stale:
        if await agent_leg_ended(tel, reservation_id=reservation_id, call_sid=agent_call_sid):
            closed += 1
            log.info("routing.reconcile.closed", extra={"reservation_id": reservation_id})
    return closed


async def agent_leg_ended(
    tel: Telephony, *, reservation_id: int, call_sid: str | None, reason: str | None = None
) -> bool:
    """Ask Twilio about an offer's agent leg; if it is over, apply that as its lost status
    callback would have (closing the offer, freeing the agent, `reason` in their state
    log). True when it was over. An offer whose agent was never rung (no leg) counts as
    failed."""
    fetched = await _fetch(tel, call_sid) if call_sid else ("failed", None)
    parsed = calls.parse_status(fetched[0]) if fetched else None
    if fetched is None or parsed is None or not parsed.is_final:
        return False
    params = _callback(call_sid or f"reservation-{reservation_id}", *fetched)
    async with transaction(tel.sessionmaker) as session:
        await offers.agent_leg_status(
            session, tel, params=params, reservation_id=reservation_id, reason=reason
        )
    return True

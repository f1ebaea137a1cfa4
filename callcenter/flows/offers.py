"""The agent's side: offering waiting calls, the agent answering, the agent's leg ending.

An offer is a reservation: the longest-idle free agent is claimed, their softphone rung
through Twilio's REST API, and the reservation follows the agent's leg to its end. The
caller meets the agent in a conference named after the call, so hold, transfer and
supervisor monitoring can follow, and so the caller the agent meets is the one offered.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.ext.asyncio import AsyncSession
from twilio.twiml.voice_response import Dial, VoiceResponse

from callcenter import jobs, unit_of_work
from callcenter.customers import phones
from callcenter.db import transaction, utcnow
from callcenter.flows import Hangup, Telephony, as_int, landing
from callcenter.ivr import render
from callcenter.routing import service as routing
from callcenter.routing.models import Reservation, ReservationStatus
from callcenter.telephony import service as calls
from callcenter.telephony.gateway import GatewayError
from callcenter.telephony.models import Call, CallStatus

log = logging.getLogger("callcenter.flows")

# How long past the ring timeout a ringing offer may stay open before it is presumed lost
# (the agent was never rung, or Twilio's callback about it never came).
RING_GRACE = dt.timedelta(seconds=30)

_OFFER_END = {
    "busy": ReservationStatus.rejected,
    "failed": ReservationStatus.rejected,
    "no-answer": ReservationStatus.timeout,
    "canceled": ReservationStatus.canceled,
}


async def _locked(
    session: AsyncSession, *, reservation_id: int
) -> tuple[Reservation | None, Call | None]:
    """A reservation and its call: the call's row locked first (the order every flow takes
    locks in), then the reservation re-read under that lock."""
    reservation = await routing.get_reservation(session, reservation_id=reservation_id)
    if reservation is None:
        return None, None
    call = await calls.get(session, call_id=reservation.call_id, lock=True)
    await session.refresh(reservation)
    return reservation, call


# --- making offers -------------------------------------------------------------------------


async def dispatch(tel: Telephony) -> int:
    """Offer waiting calls, oldest first, to the longest-idle free agents. Returns offers made.

    Safe to run anywhere, any time, on any instance: each call is offered in a transaction
    of its own that locks just that call (skipping one another instance holds), and an
    agent is claimed with one conditional UPDATE. Within a process, a call while a pass is
    running asks that pass to run once more instead of starting another.
    """
    if tel.dispatching.locked():
        tel.dispatch_again = True
        return 0
    made = 0
    async with tel.dispatching:
        tel.dispatch_again = True
        while tel.dispatch_again:
            tel.dispatch_again = False
            made += await _dispatch_pass(tel)
    return made


async def _dispatch_pass(tel: Telephony) -> int:
    async with transaction(tel.sessionmaker) as session:
        if not await routing.any_available(session):
            return 0
        waiting = [call.id for call in await calls.waiting_calls(session)]
    made = 0
    for call_id in waiting:
        async with transaction(tel.sessionmaker) as session:
            offer = await _reserve(session, tel, call_id=call_id)
            if offer is None and not await routing.any_available(session):
                break  # nobody left to offer to: the rest of the queue keeps waiting
        if offer is None:
            continue
        made += 1
        if not await _ring(tel, *offer):
            # That agent is excluded for that call now: look at the queue once more.
            tel.dispatch_again = True
    return made


async def _reserve(
    session: AsyncSession, tel: Telephony, *, call_id: int
) -> tuple[int, str, str] | None:
    """Claim an agent for one waiting call: (reservation id, identity, caller id), or None
    when the call no longer waits, has an offer out, or no agent can take it."""
    call = await calls.lock_waiting(session, call_id=call_id)
    if call is None or await routing.open_reservation(session, call_id=call.id) is not None:
        return None
    declined = await routing.agents_who_declined(session, call_id=call.id)
    agent = await routing.claim_longest_idle(session, exclude=declined)
    if agent is None:
        return None
    reservation = await routing.create_reservation(session, call_id=call.id, agent=agent)
    caller_id = call.from_number if phones.to_e164(call.from_number) else tel.caller_id
    return reservation.id, agent.client_identity, caller_id or "anonymous"


async def _ring(tel: Telephony, reservation_id: int, identity: str, caller_id: str) -> bool:
    """Ring the agent's softphone. False when that failed (the offer is closed as failed)."""
    try:
        outbound = await tel.gateway.call_client(
            identity=identity,
            caller_id=caller_id,
            url=tel.urls.agent_answer(reservation_id),
            status_callback=tel.urls.agent_status(reservation_id),
            ring_seconds=tel.agent_ring_seconds,
        )
    except Exception as error:
        if not isinstance(error, GatewayError):
            log.exception("routing.offer.ring_failed", extra={"reservation_id": reservation_id})
        async with transaction(tel.sessionmaker) as session:
            reservation, _call = await _locked(session, reservation_id=reservation_id)
            if reservation is not None and reservation.status == ReservationStatus.pending:
                routing.close_reservation(reservation, status=ReservationStatus.failed)
                await routing.release(session, agent_id=reservation.agent_id, after_call=False)
        return False
    async with transaction(tel.sessionmaker) as session:
        reservation, _call = await _locked(session, reservation_id=reservation_id)
        withdrawn = reservation is None or reservation.status != ReservationStatus.pending
        if reservation is not None and reservation.agent_call_sid is None:
            reservation.agent_call_sid = outbound.sid
        if not withdrawn and tel.jobs is not None:
            # If Twilio's word on this ring never comes (or this instance dies), the worker
            # ends the offer and routes the call on.
            tel.jobs.after_commit(
                session, OFFER_TIMEOUT, delay=_ring_limit(tel).total_seconds(),
                reservation_id=reservation_id,
            )
    if withdrawn:
        # The caller left while we were ringing: stop the agent's phone too.
        await end_leg(tel, Hangup(outbound.sid, ringing=True))
        return True
    log.info(
        "routing.offer.ringing",
        extra={"reservation_id": reservation_id, "agent_call_sid": outbound.sid},
    )
    return True


async def end_leg(tel: Telephony, hangup: Hangup) -> None:
    """End a call leg through Twilio's REST API; failure is logged, never raised."""
    try:
        await tel.gateway.end_call(call_sid=hangup.call_sid, ringing=hangup.ringing)
    except GatewayError as error:
        log.warning(
            "routing.leg.end_failed", extra={"call_sid": hangup.call_sid, "code": error.code}
        )


# --- withdrawing offers --------------------------------------------------------------------


async def withdraw(session: AsyncSession, *, call: Call) -> Hangup | None:
    """The caller left (hung up, or went to voicemail): end what was offered to an agent.

    A ringing offer is canceled and the agent freed; an answered one whose caller never
    reached the conference leaves the agent alone on the line, so their leg is ended (the
    agent's leg ending then closes the reservation and frees them).
    """
    reservation = await routing.open_reservation(session, call_id=call.id)
    if reservation is None:
        return None
    if reservation.status == ReservationStatus.pending:
        routing.close_reservation(reservation, status=ReservationStatus.canceled)
        await routing.release(session, agent_id=reservation.agent_id, after_call=False)
        sid = reservation.agent_call_sid
        return Hangup(sid, ringing=True) if sid else None
    if call.connected_at is None and call.status.is_final and reservation.agent_call_sid:
        return Hangup(reservation.agent_call_sid, ringing=False)
    return None


def _ring_limit(tel: Telephony) -> dt.timedelta:
    return dt.timedelta(seconds=tel.agent_ring_seconds) + RING_GRACE


async def _expire_if_stale(
    session: AsyncSession, tel: Telephony, reservation: Reservation | None
) -> Hangup | None:
    """Close an offer that has rung longer than any ring could: the agent was never rung
    (a crash between claiming and ringing) or Twilio's callback about it was lost. Frees
    the agent; returns their ringing leg to end, if any."""
    if reservation is None or reservation.status != ReservationStatus.pending:
        return None
    if utcnow() - reservation.created_at < _ring_limit(tel):
        return None
    log.warning("routing.offer.stale", extra={"reservation_id": reservation.id})
    routing.close_reservation(reservation, status=ReservationStatus.failed)
    await routing.release(session, agent_id=reservation.agent_id, after_call=False)
    sid = reservation.agent_call_sid
    return Hangup(sid, ringing=True) if sid else None


async def withdraw_if_stale(session: AsyncSession, tel: Telephony, *, call: Call) -> Hangup | None:
    """At a caller's wait round: close their offer if it is stale (see `_expire_if_stale`)."""
    reservation = await routing.open_reservation(session, call_id=call.id)
    return await _expire_if_stale(session, tel, reservation)


OFFER_TIMEOUT = "routing.offer.timeout"


@jobs.job(OFFER_TIMEOUT)
async def offer_timed_out(tel: Telephony, *, reservation_id: int) -> bool:
    """The worker's timer on a ringing offer: if it is still open past any ring time, close
    it, free the agent, stop their phone and offer the call to the next agent. True when
    it had to; an offer that ended normally is left alone."""
    async with transaction(tel.sessionmaker) as session:
        reservation, _call = await _locked(session, reservation_id=reservation_id)
        was_ringing = reservation is not None and reservation.status == ReservationStatus.pending
        hangup = await _expire_if_stale(session, tel, reservation)
        expired = was_ringing and reservation is not None and not reservation.status.is_open
        if hangup is not None:
            unit_of_work.after_commit(session, end_leg, tel, hangup)
    if expired:
        await dispatch(tel)
    return expired


# --- the agent answers ---------------------------------------------------------------------


def _room(call: Call) -> str:
    return f"call-{call.sid}"


def _conference(room: str) -> VoiceResponse:
    response = VoiceResponse()
    dial = Dial()
    dial.conference(room, start_conference_on_enter=True, end_conference_on_exit=True, beep=False)
    response.append(dial)
    return response


def _caller_gone(tel: Telephony) -> VoiceResponse:
    response = VoiceResponse()
    render.say(response, tel.flow, "Sorry, the caller has already hung up.")
    response.hangup()
    return response


async def agent_answered(tel: Telephony, *, reservation_id: int) -> VoiceResponse:
    """The agent picked up: pull the caller out of the queue and meet them in a conference."""
    async with transaction(tel.sessionmaker) as session:
        reservation, call = await _locked(session, reservation_id=reservation_id)
        if (
            reservation is None
            or call is None
            or reservation.status != ReservationStatus.pending
            or call.status.is_final
            or call.outcome is not None
            or call.queue_result is not None
            or not call.queue_sid
        ):
            return _caller_gone(tel)
        routing.accept_reservation(reservation)
        await routing.mark_busy(session, agent_id=reservation.agent_id)
        queue_sid, call_sid, room = call.queue_sid, call.sid, _room(call)
    try:
        await tel.gateway.dequeue(
            queue_sid=queue_sid, call_sid=call_sid, url=tel.urls.caller_connect(reservation_id)
        )
    except GatewayError:
        # The caller left the queue meanwhile: free the agent and land the call if it ended.
        async with transaction(tel.sessionmaker) as session:
            reservation, call = await _locked(session, reservation_id=reservation_id)
            if reservation is not None and reservation.status == ReservationStatus.accepted:
                routing.close_reservation(reservation, status=ReservationStatus.canceled)
                await routing.release(session, agent_id=reservation.agent_id, after_call=False)
                if call is not None:
                    await landing.land_on_ticket(session, call=call)
        await dispatch(tel)
        return _caller_gone(tel)
    return _conference(room)


async def caller_connected(
    session: AsyncSession, tel: Telephony, *, reservation_id: int
) -> VoiceResponse:
    """The caller left the queue for the agent: start the talk clock, join the conference."""
    reservation, call = await _locked(session, reservation_id=reservation_id)
    if reservation is None or call is None or reservation.status != ReservationStatus.accepted:
        response = VoiceResponse()
        render.say(response, tel.flow, tel.flow.apology)
        response.hangup()
        return response
    agent = await routing.get_agent(session, agent_id=reservation.agent_id)
    assert agent is not None
    calls.mark_connected(call, agent_user_id=agent.user_id)
    log.info("routing.call.connected", extra={"call_sid": call.sid, "agent_id": agent.id})
    return _conference(_room(call))


async def agent_leg_status(
    session: AsyncSession, *, params: dict[str, str], reservation_id: int
) -> tuple[bool, Hangup | None]:
    """A status callback on an agent's leg. Returns (agent freed: dispatch, leg to end)."""
    if not await calls.record_callback(session, params=params):
        return False, None
    status = params.get("CallStatus", "")
    reservation, call = await _locked(session, reservation_id=reservation_id)
    if reservation is None:
        return False, None
    if reservation.agent_call_sid is None and params["CallSid"].startswith("CA"):
        reservation.agent_call_sid = params["CallSid"]
    if not reservation.status.is_open:
        # The offer was withdrawn while this leg still rings or talks: end it.
        final = calls.parse_status(status)
        if final is not None and not final.is_final:
            return False, Hangup(params["CallSid"], ringing=final != CallStatus.in_progress)
        return False, None
    if status in _OFFER_END and reservation.status == ReservationStatus.pending:
        routing.close_reservation(reservation, status=_OFFER_END[status])
        await routing.release(session, agent_id=reservation.agent_id, after_call=False)
        log.info(
            "routing.offer.declined", extra={"reservation_id": reservation.id, "status": status}
        )
        return True, None
    if status in (CallStatus.completed.value, *_OFFER_END):
        answered = reservation.status == ReservationStatus.accepted
        routing.close_reservation(
            reservation,
            status=ReservationStatus.completed if answered else ReservationStatus.timeout,
        )
        await routing.release(session, agent_id=reservation.agent_id, after_call=answered)
        if answered and call is not None:
            calls.record_talk_time(call, talk_seconds=as_int(params.get("CallDuration")))
            await session.flush()
            await landing.land_on_ticket(session, call=call)
        return True, None
    return False, None

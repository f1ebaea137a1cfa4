"""The agent's side: offering waiting tasks, the agent answering, the agent's leg ending.

An offer is a reservation: the queue's strategy picks a free agent who suits the task (or,
for ring-all, every one), their softphone is rung through Twilio's REST API, and the
reservation follows the agent's leg to its end. The caller meets the agent in a
conference named after the call, so hold, transfer and supervisor monitoring can follow,
and so the caller the agent meets is the one offered.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from twilio.twiml.voice_response import Dial, VoiceResponse

from callcenter import jobs, unit_of_work
from callcenter.channels.chat import service as chat
from callcenter.customers import phones
from callcenter.db import transaction, utcnow
from callcenter.flows import Hangup, Telephony, as_int, call_time, callbacks, end_leg, landing
from callcenter.ivr import render
from callcenter.routing import agents, chats, decisions, queues, tasks
from callcenter.routing.models import (
    Reservation,
    ReservationStatus,
    Task,
    TaskChannel,
    TaskStatus,
)
from callcenter.telephony import service as calls
from callcenter.telephony.gateway import GatewayError
from callcenter.telephony.models import Call, CallStatus

log = logging.getLogger("callcenter.flows")

# How long past the ring timeout a ringing offer may stay open before it is presumed lost
# (the agent was never rung, or Twilio's callback about it never came).
RING_GRACE = dt.timedelta(seconds=30)
# How many waiting tasks one dispatch pass looks at (the rest wait for the next pass),
# read a page at a time: a first page of PAGE, each next one four times the last (a pass
# that finds many agents free, as in a burst, takes a few reads, not one per 16 tasks).
PASS_LIMIT = 200
PAGE = 16

_OFFER_END = {
    "busy": ReservationStatus.rejected,
    "failed": ReservationStatus.failed,
    "no-answer": ReservationStatus.timeout,
    "canceled": ReservationStatus.canceled,
}
# Offer ends that count against the agent (they were rung and did not take it).
_MISSED = {ReservationStatus.rejected, ReservationStatus.timeout}


@dataclass(frozen=True)
class Locked:
    """A reservation with its task and call, locked in the order every flow takes."""

    reservation: Reservation
    task: Task
    call: Call | None


async def _locked(session: AsyncSession, *, reservation_id: int) -> Locked | None:
    reservation = await tasks.get_reservation(session, reservation_id=reservation_id)
    if reservation is None:
        return None
    task = await tasks.get_task(session, task_id=reservation.task_id)
    assert task is not None
    call = await calls.get(session, call_id=task.call_id, lock=True) if task.call_id else None
    task = await tasks.get_task(session, task_id=task.id, lock=True)
    assert task is not None
    await session.refresh(reservation)
    return Locked(reservation, task, call)


# --- making offers -------------------------------------------------------------------------


@dataclass(frozen=True)
class Ring:
    """An agent to ring once the claim has committed."""

    reservation_id: int
    identity: str
    caller_id: str


async def dispatch(tel: Telephony) -> int:
    """Offer waiting tasks, highest priority then oldest first, to the agents the queues'
    strategies choose. Returns how many agents were rung.

    Safe to run anywhere, any time, on any instance: each task is offered in a transaction
    of its own that locks just that task (skipping one another instance holds), and an
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
    made = tried = 0
    # Queues found with no free agent left in this pass: their other tasks are skipped
    # rather than each tried in a transaction of its own (an agent freed meanwhile asks
    # for another pass).
    drained: set[int] = set()
    after: tasks.Waiting | None = None
    size = PAGE
    while tried < PASS_LIMIT:
        async with transaction(tel.sessionmaker) as session:
            if after is None and not await agents.anyone_free(session):
                return 0
            page = await tasks.waiting_line(
                session, limit=min(size, PASS_LIMIT - tried), after=after
            )
        for waiting in page:
            tried += 1
            if waiting.queue_id in drained:
                continue
            try:
                async with transaction(tel.sessionmaker) as session:
                    reserved = await _reserve(session, tel, task_id=waiting.task_id)
                    nobody_left = not reserved.rings and not await agents.anyone_free(session)
            except Exception:
                # One task's failure (a lock timeout, a deadlock) must not hold up the line.
                log.exception("routing.dispatch.failed", extra={"task_id": waiting.task_id})
                continue
            if reserved.drained:
                drained.add(waiting.queue_id)
            # Ring-all rings every phone at once, so no colleague starts seconds behind.
            for rang in await asyncio.gather(*(ring(tel, offer) for offer in reserved.rings)):
                made += 1
                if not rang:
                    tel.dispatch_again = True  # that agent is excluded now: look once more
            if nobody_left:
                return made  # the rest of the line keeps waiting
        if len(page) < size:
            break
        after, size = page[-1], size * 4
    return made


@dataclass(frozen=True)
class Reserved:
    """What offering one task came to: the agents to ring, and whether its queue turned out
    to have no free agent at all (a task that asks nothing beyond the queue found none)."""

    rings: list[Ring]
    drained: bool = False


async def _reserve(session: AsyncSession, tel: Telephony, *, task_id: int) -> Reserved:
    """Claim agents for one waiting task; no rings when it no longer waits, its caller has
    gone, or nobody suitable is free."""
    task = await tasks.lock_waiting(session, task_id=task_id)
    if task is None or task.queue_id is None:
        return Reserved([])
    call = await calls.get(session, call_id=task.call_id) if task.call_id else None
    callback = task.channel == TaskChannel.callback
    if not callback and call is not None and (call.status.is_final or call.outcome is not None):
        return Reserved([])
    if callback and call is not None and not call.status.is_final:
        return Reserved([])  # the caller is still hearing goodbye: their line would be busy
    queue = await queues.get_queue(session, queue_id=task.queue_id)
    assert queue is not None
    if task.channel == TaskChannel.chat:
        # A chat is assigned, not rung: it shows on the agent's page at once.
        agent_id = await chats.choose(session, task=task, queue=queue)
        if agent_id is not None:
            await chat.assigned(session, task_id=task.id, agent_id=agent_id)
        return Reserved([], drained=agent_id is None)
    declined = await tasks.agents_who_declined(session, task_id=task.id)
    chosen = await decisions.choose(session, task=task, queue=queue, exclude=declined)
    if not chosen:
        asked_nothing_more = (
            not declined and task.workflow_id is None and not decisions.asks_more(task, None)
        )
        return Reserved([], drained=asked_nothing_more)
    # The agent's phone shows the customer's number (for a callback: the one to call).
    caller_id = tel.caller_id
    if call is not None and phones.to_e164(call.from_number):
        caller_id = call.from_number
    rings = []
    for agent_id in chosen:
        reservation = await tasks.create_reservation(session, task=task, agent_id=agent_id)
        agent = await agents.get_agent(session, agent_id=agent_id)
        assert agent is not None
        rings.append(Ring(reservation.id, agent.client_identity, caller_id or "anonymous"))
    return Reserved(rings)


async def ring(tel: Telephony, ring: Ring) -> bool:
    """Ring the agent's softphone. False when that failed (the offer is closed as failed).
    An offer withdrawn since it was made (the caller left, a colleague answered) is not
    rung at all, so a phone never rings for a call that is gone."""
    async with transaction(tel.sessionmaker) as session:
        reservation = await tasks.get_reservation(session, reservation_id=ring.reservation_id)
        if reservation is None or reservation.status != ReservationStatus.pending:
            return True
    try:
        outbound = await tel.gateway.call_client(
            identity=ring.identity,
            caller_id=ring.caller_id,
            url=tel.urls.agent_answer(ring.reservation_id),
            status_callback=tel.urls.agent_status(ring.reservation_id),
            ring_seconds=tel.agent_ring_seconds,
        )
    except Exception as error:
        if not isinstance(error, GatewayError):
            log.exception(
                "routing.offer.ring_failed", extra={"reservation_id": ring.reservation_id}
            )
        async with transaction(tel.sessionmaker) as session:
            locked = await _locked(session, reservation_id=ring.reservation_id)
            if locked is not None and locked.reservation.status == ReservationStatus.pending:
                await _end_offer(session, tel, locked, ReservationStatus.failed)
        return False
    async with transaction(tel.sessionmaker) as session:
        locked = await _locked(session, reservation_id=ring.reservation_id)
        withdrawn = locked is None or locked.reservation.status != ReservationStatus.pending
        if locked is not None and locked.reservation.agent_call_sid is None:
            locked.reservation.agent_call_sid = outbound.sid
        if not withdrawn and tel.jobs is not None:
            # If Twilio's word on this ring never comes (or this instance dies), the worker
            # ends the offer and routes the task on.
            tel.jobs.after_commit(
                session, OFFER_TIMEOUT, delay=_ring_limit(tel).total_seconds(),
                reservation_id=ring.reservation_id,
            )
    if withdrawn:
        # The caller left (or a colleague answered) while we were ringing: stop this phone.
        await end_leg(tel, Hangup(outbound.sid, ringing=True))
        return True
    log.info(
        "routing.offer.ringing",
        extra={"reservation_id": ring.reservation_id, "agent_call_sid": outbound.sid},
    )
    return True


async def _end_offer(
    session: AsyncSession,
    tel: Telephony,
    locked: Locked,
    status: ReservationStatus,
    *,
    reason: str | None = None,
) -> Hangup | None:
    """Close a ringing offer, free its agent (counting a miss against them) and put the task
    back in line if no other offer of it is open. Returns the agent's ringing leg to end."""
    reservation, task = locked.reservation, locked.task
    tasks.close(reservation, status=status)
    benched = await agents.offer_ended(
        session, agent_id=reservation.agent_id, task_id=task.id, missed=status in _MISSED,
        missed_limit=tel.missed_offers_limit, reason=reason,
    )
    if benched:
        log.warning(
            "routing.agent.missed_offers",
            extra={"agent_id": reservation.agent_id, "limit": tel.missed_offers_limit},
        )
    if task.status == TaskStatus.reserved and not await tasks.open_reservations(
        session, task_id=task.id
    ):
        tasks.set_status(task, TaskStatus.pending)
    await _tell_transferrer(session, task)
    sid = reservation.agent_call_sid
    return Hangup(sid, ringing=True) if sid and status != ReservationStatus.canceled else None


# --- withdrawing offers --------------------------------------------------------------------


async def withdraw(session: AsyncSession, *, call: Call, reason: str) -> list[Hangup]:
    """The caller left (hung up, or went to voicemail): cancel their task and end what was
    offered of it. Ringing offers are canceled and their agents freed; an answered one whose
    caller never reached the conference leaves the agent alone on the line, so their leg is
    ended (that leg ending then closes the reservation and frees them)."""
    task = await tasks.voice_task(session, call_id=call.id, lock=True)
    if task is None:
        return []
    unmet = call.connected_at is None and call.status.is_final
    return await cancel_task(session, task, reason=reason, end_answered=unmet)


async def cancel_task(
    session: AsyncSession, task: Task, *, reason: str, end_answered: bool
) -> list[Hangup]:
    """Cancel a task nobody should take now: its ringing offers closed (their agents
    freed, no miss counted) and the task canceled if it still waited. Returns the legs to
    end: the ringing ones, and with `end_answered` the answered ones too."""
    hangups = []
    for reservation in await tasks.open_reservations(session, task_id=task.id):
        if reservation.status == ReservationStatus.pending:
            tasks.close(reservation, status=ReservationStatus.canceled)
            await agents.offer_ended(
                session, agent_id=reservation.agent_id, task_id=task.id, missed=False,
                missed_limit=0,
            )
            if reservation.agent_call_sid:
                hangups.append(Hangup(reservation.agent_call_sid, ringing=True))
        elif end_answered and reservation.agent_call_sid:
            hangups.append(Hangup(reservation.agent_call_sid, ringing=False))
    if task.status in (TaskStatus.pending, TaskStatus.reserved):
        tasks.set_status(task, TaskStatus.canceled, reason=reason)
    return hangups


def _ring_limit(tel: Telephony) -> dt.timedelta:
    return dt.timedelta(seconds=tel.agent_ring_seconds) + RING_GRACE


async def _expire_if_stale(
    session: AsyncSession, tel: Telephony, locked: Locked | None
) -> Hangup | None:
    """Close an offer that has rung longer than any ring could: the agent was never rung
    (a crash between claiming and ringing) or Twilio's callback about it was lost."""
    if locked is None or locked.reservation.status != ReservationStatus.pending:
        return None
    if utcnow() - locked.reservation.created_at < _ring_limit(tel):
        return None
    log.warning("routing.offer.stale", extra={"reservation_id": locked.reservation.id})
    return await _end_offer(session, tel, locked, ReservationStatus.failed)


async def withdraw_if_stale(
    session: AsyncSession, tel: Telephony, *, task: Task, call: Call
) -> list[Hangup]:
    """At a caller's wait round: close their offers that are stale (see `_expire_if_stale`)."""
    hangups = []
    for reservation in await tasks.open_reservations(session, task_id=task.id):
        hangup = await _expire_if_stale(session, tel, Locked(reservation, task, call))
        if hangup is not None:
            hangups.append(hangup)
    return hangups


OFFER_TIMEOUT = "routing.offer.timeout"


@jobs.job(OFFER_TIMEOUT)
async def offer_timed_out(tel: Telephony, *, reservation_id: int) -> bool:
    """The worker's timer on a ringing offer: if it is still open past any ring time, close
    it, free the agent, stop their phone and offer the task to the next agent. True when
    it had to; an offer that ended normally is left alone."""
    async with transaction(tel.sessionmaker) as session:
        locked = await _locked(session, reservation_id=reservation_id)
        was_ringing = locked is not None and locked.reservation.status == ReservationStatus.pending
        hangup = await _expire_if_stale(session, tel, locked)
        expired = was_ringing and locked is not None and not locked.reservation.status.is_open
        if hangup is not None:
            unit_of_work.after_commit(session, end_leg, tel, hangup)
    if expired:
        await dispatch(tel)
    return expired


@jobs.job(callbacks.RETRY)
async def callback_due(tel: Telephony, *, task_id: int) -> int:
    """A callback's next attempt is due: offer it (and whatever else waits)."""
    return await dispatch(tel)


WRAPUP_END = "routing.wrapup.end"


@jobs.job(WRAPUP_END)
async def wrapup_ended(tel: Telephony, *, agent_id: int) -> bool:
    """The worker's timer at the end of an agent's wrap-up: make them idle and offer them
    the next task. An agent who ended wrap-up themselves (or was claimed) is left alone."""
    async with transaction(tel.sessionmaker) as session:
        ended = await end_wrapup(session, agent_id=agent_id, only_if_due=True)
    if ended:
        await dispatch(tel)
    return ended


async def end_wrapup(session: AsyncSession, *, agent_id: int, only_if_due: bool = False) -> bool:
    """Wrap-up over: the agent is idle and the task they wrapped up is completed."""
    agent = await agents.get_agent(session, agent_id=agent_id)
    if agent is None or (
        only_if_due and (agent.wrapup_until is None or agent.wrapup_until > utcnow())
    ):
        return False
    if not await agents.end_wrapup(session, agent_id=agent_id):
        return False
    for task in await tasks.complete_wrapping(session, agent_id=agent_id):
        call = await calls.get(session, call_id=task.call_id) if task.call_id else None
        if call is not None:
            await call_time.record(session, call=call)  # the wrap-up's seconds
    return True


# --- the agent answers ---------------------------------------------------------------------


def room_of(caller_sid: str) -> str:
    """The conference a caller meets their agents in: named after the caller's call."""
    return f"call-{caller_sid}"


def _room(call: Call) -> str:
    return room_of(call.sid)


def _conference(room: str, *, end_on_exit: bool = True) -> VoiceResponse:
    response = VoiceResponse()
    dial = Dial()
    dial.conference(
        room, start_conference_on_enter=True, end_conference_on_exit=end_on_exit, beep=False
    )
    response.append(dial)
    return response


def _not_yours(tel: Telephony, text: str) -> VoiceResponse:
    response = VoiceResponse()
    render.say(response, tel.flow, text)
    response.hangup()
    return response


async def agent_answered(tel: Telephony, *, reservation_id: int) -> VoiceResponse:
    """The agent picked up: pull the caller out of the queue and meet them in a conference.

    In a ring-all queue the first agent to pick up takes the call; the others' offers are
    rescinded and their phones stopped."""
    async with transaction(tel.sessionmaker) as session:
        locked = await _locked(session, reservation_id=reservation_id)
        if locked is not None and locked.reservation.status == ReservationStatus.rescinded:
            return _not_yours(tel, "A colleague has taken this call.")
        if locked is None or locked.reservation.status != ReservationStatus.pending:
            return _not_yours(tel, "Sorry, the caller has already hung up.")
        reservation, task, call = locked.reservation, locked.task, locked.call
        if task.status == TaskStatus.reserved and task.channel == TaskChannel.callback:
            await _rescind_others(session, tel, locked)
            return await callbacks.accepted(session, tel, reservation=reservation, task=task)
        if task.status != TaskStatus.reserved:
            # A colleague took it a moment before (ring-all), or it went away.
            taken = task.status.is_open
            await _end_offer(
                session, tel, locked,
                ReservationStatus.rescinded if taken else ReservationStatus.canceled,
            )
            return _not_yours(
                tel,
                "A colleague has taken this call." if taken
                else "Sorry, the caller has already hung up.",
            )
        room = (task.attributes or {}).get("conference")
        if room and call is not None and not call.status.is_final:
            # A transferred call: the caller already waits in its conference, on hold.
            return await _transfer_answered(session, tel, locked, room)
        if (
            call is None
            or call.status.is_final
            or call.outcome is not None
            or task.queue_result is not None
            or not task.twilio_queue_sid
        ):
            return _not_yours(tel, "Sorry, the caller has already hung up.")
        await _rescind_others(session, tel, locked)
        tasks.accept(reservation, task)
        await agents.answered(session, agent_id=reservation.agent_id, task_id=task.id)
        queue_sid, call_sid, room = task.twilio_queue_sid, call.sid, _room(call)
    try:
        await tel.gateway.dequeue(
            queue_sid=queue_sid, call_sid=call_sid, url=tel.urls.caller_connect(reservation_id)
        )
    except GatewayError:
        # Twilio could not take the caller out of the queue: they left it meanwhile, or the
        # request failed. Free the agent; a caller still on the line goes back in line.
        async with transaction(tel.sessionmaker) as session:
            locked = await _locked(session, reservation_id=reservation_id)
            gone = locked is None or locked.call is None or locked.call.status.is_final
            if locked is not None and locked.reservation.status == ReservationStatus.accepted:
                await _unconnected(session, locked, reason="caller not dequeued")
                if gone:
                    tasks.set_status(locked.task, TaskStatus.canceled, reason="abandoned")
                    if locked.call is not None:
                        await landing.land_on_ticket(session, call=locked.call)
        await dispatch(tel)
        if gone:
            return _not_yours(tel, "Sorry, the caller has already hung up.")
        return _not_yours(tel, "Sorry, the call could not be connected. It goes to the next agent.")
    return _conference(room)


async def _transfer_answered(
    session: AsyncSession, tel: Telephony, locked: Locked, room: str
) -> VoiceResponse:
    """The agent a call was transferred to picked up: into the caller's conference, which
    they do not end by leaving (a colleague may still be there); a cold transfer takes the
    caller off hold now, a consultation leaves them on hold until it is completed."""
    reservation, task, call = locked.reservation, locked.task, locked.call
    assert call is not None
    await _rescind_others(session, tel, locked)
    tasks.accept(reservation, task)
    await agents.answered(session, agent_id=reservation.agent_id, task_id=task.id)
    agent = await agents.get_agent(session, agent_id=reservation.agent_id)
    assert agent is not None
    calls.mark_connected(call, agent_user_id=agent.user_id)
    if not (task.attributes or {}).get("consult"):
        unit_of_work.after_commit(session, set_caller_hold, tel, call.sid, False)
    await _tell_transferrer(session, task)
    log.info("routing.transfer.answered", extra={"reservation_id": reservation.id})
    return _conference(room, end_on_exit=False)


async def _tell_transferrer(session: AsyncSession, task: Task) -> None:
    """A transfer's offer was answered or ended: the agent who made it (still on the call,
    consulting) sees it on their page."""
    origin = (task.attributes or {}).get("transferred_from")
    reservation = await tasks.get_reservation(session, reservation_id=origin) if origin else None
    if reservation is not None and reservation.status == ReservationStatus.accepted:
        agents.work_changed(session, agent_id=reservation.agent_id)


async def set_caller_hold(tel: Telephony, caller_sid: str, hold: bool) -> None:
    """Put the caller in their conference on hold or take them off it (Twilio's hold
    music plays meanwhile)."""
    conference = await tel.gateway.conference_sid(name=room_of(caller_sid))
    if conference is None:
        raise GatewayError("the call's conference has ended")
    await tel.gateway.update_participant(conference_sid=conference, call_sid=caller_sid, hold=hold)


async def _unconnected(session: AsyncSession, locked: Locked, *, reason: str) -> None:
    """An accepted offer that never became a conversation: closed as failed, the agent idle
    with no call counted, the task back in line."""
    tasks.close(locked.reservation, status=ReservationStatus.failed)
    await agents.task_done(
        session, agent_id=locked.reservation.agent_id, task_id=locked.task.id,
        wrapup_seconds=0, talk_seconds=0, counted=False, reason=reason,
    )
    locked.task.assigned_at = None
    tasks.set_status(locked.task, TaskStatus.pending, reason=reason)


async def _rescind_others(session: AsyncSession, tel: Telephony, locked: Locked) -> None:
    """Ring-all: this agent took the task; every other agent still ringing for it is freed
    (not counted as a miss) and their phone stopped once this commits."""
    for other in await tasks.open_reservations(session, task_id=locked.task.id):
        if other.id != locked.reservation.id and other.status == ReservationStatus.pending:
            hangup = await _end_offer(
                session, tel, Locked(other, locked.task, locked.call), ReservationStatus.rescinded
            )
            if hangup is not None:
                unit_of_work.after_commit(session, end_leg, tel, hangup)


async def caller_connected(
    session: AsyncSession, tel: Telephony, *, reservation_id: int
) -> VoiceResponse:
    """The caller left the queue for the agent: start the talk clock, join the conference."""
    locked = await _locked(session, reservation_id=reservation_id)
    if (
        locked is None
        or locked.call is None
        or locked.reservation.status != ReservationStatus.accepted
    ):
        response = VoiceResponse()
        render.say(response, tel.flow, tel.flow.apology)
        response.hangup()
        return response
    agent = await agents.get_agent(session, agent_id=locked.reservation.agent_id)
    assert agent is not None
    calls.mark_connected(locked.call, agent_user_id=agent.user_id)
    log.info(
        "routing.call.connected", extra={"call_sid": locked.call.sid, "agent_id": agent.id}
    )
    return _conference(_room(locked.call))


@dataclass(frozen=True)
class LegOutcome:
    """What an agent leg's callback asks to follow the commit."""

    dispatch: bool = False
    hangup: Hangup | None = None


async def agent_leg_status(
    session: AsyncSession,
    tel: Telephony,
    *,
    params: dict[str, str],
    reservation_id: int,
    reason: str | None = None,
) -> LegOutcome:
    """A status callback on an agent's leg (or, with `reason`, the worker applying one that
    was lost: the agent's state log says so)."""
    if not await calls.record_callback(session, params=params):
        return LegOutcome()
    status = params.get("CallStatus", "")
    locked = await _locked(session, reservation_id=reservation_id)
    if locked is None:
        return LegOutcome()
    reservation = locked.reservation
    if reservation.agent_call_sid is None and params["CallSid"].startswith("CA"):
        reservation.agent_call_sid = params["CallSid"]
    if not reservation.status.is_open:
        # The offer was withdrawn while this leg still rings or talks: end it.
        final = calls.parse_status(status)
        if final is not None and not final.is_final:
            ringing = final != CallStatus.in_progress
            return LegOutcome(hangup=Hangup(params["CallSid"], ringing=ringing))
        return LegOutcome()
    if status in _OFFER_END and reservation.status == ReservationStatus.pending:
        await _end_offer(session, tel, locked, _OFFER_END[status], reason=reason)
        log.info(
            "routing.offer.declined", extra={"reservation_id": reservation.id, "status": status}
        )
        return LegOutcome(dispatch=True)
    if status in (CallStatus.completed.value, *_OFFER_END):
        if reservation.status != ReservationStatus.accepted:
            # "completed" means the agent did pick up (our answer to it failed): not a miss.
            ended = ReservationStatus.failed if status == "completed" else ReservationStatus.timeout
            await _end_offer(session, tel, locked, ended, reason=reason)
            return LegOutcome(dispatch=True)
        if locked.task.channel == TaskChannel.callback:
            legs = await callbacks.agent_left(session, tel, reservation=reservation)
            if legs is not None:
                for leg in legs:
                    unit_of_work.after_commit(session, end_leg, tel, leg)
                return LegOutcome(dispatch=True)
        return await _call_over(
            session, tel, locked, talk_seconds=as_int(params.get("CallDuration")), reason=reason
        )
    return LegOutcome()


async def _call_over(
    session: AsyncSession,
    tel: Telephony,
    locked: Locked,
    *,
    talk_seconds: int | None,
    reason: str | None = None,
) -> LegOutcome:
    """The agent's side of an answered call ended: the agent into wrap-up (the queue's
    wrap-up time), the task wrapping until then, the call onto its ticket, and the
    caller's leg ended if it goes on (a caller who reached the conference after the agent
    left would wait there alone), unless the call is still someone's: a colleague it was
    transferred to is on it, or the transfer still waits for an agent.

    An agent who left before the caller was taken out of the queue (their answer was cut
    short: a deadline, an instance that died, a hang-up at once) never talked to them: the
    offer failed, and the caller, still in line, goes back to waiting for the next agent."""
    reservation, task, call = locked.reservation, locked.task, locked.call
    voice = task.channel == TaskChannel.voice
    if voice and call is not None and call.connected_at is None and task.queue_result is None:
        await _unconnected(session, locked, reason=reason or "agent left before connecting")
        log.warning("routing.offer.unconnected", extra={"reservation_id": reservation.id})
        return LegOutcome(dispatch=True)
    tasks.close(reservation, status=ReservationStatus.completed)
    queue = await queues.get_queue(session, queue_id=task.queue_id) if task.queue_id else None
    wrapup = queue.wrapup_seconds if queue is not None else 0
    if voice and call is not None:
        calls.record_talk_time(call, talk_seconds=talk_seconds)
    until = await agents.task_done(
        session, agent_id=reservation.agent_id, task_id=task.id, wrapup_seconds=wrapup,
        talk_seconds=(call.talk_seconds if voice and call is not None else None)
        or talk_seconds or 0,
        reason=reason,
    )
    tasks.set_status(
        task, TaskStatus.wrapping if until else TaskStatus.completed, reason="answered"
    )
    caller_leg = None
    if voice and call is not None:
        await session.flush()
        await landing.land_on_ticket(session, call=call)
        colleague = await tasks.another_agent_on(
            session, call_id=call.id, besides=reservation.id
        )
        held = reservation.held_at is not None
        tasks.set_hold(reservation, on=False)
        if not call.status.is_final:
            if colleague and held:
                # They left a consultation with the caller on hold: the colleague has them.
                unit_of_work.after_commit(session, set_caller_hold, tel, call.sid, False)
            elif not colleague and not await tasks.waiting_for_agent(session, call_id=call.id):
                caller_leg = Hangup(call.sid, ringing=False)
    if until is None:
        return LegOutcome(dispatch=True, hangup=caller_leg)
    if tel.jobs is not None:
        # Without a worker the agent is still free once wrap-up is over (see
        # `models.free_now`); the job offers them the next task at that moment.
        tel.jobs.after_commit(
            session, WRAPUP_END, delay=(until - utcnow()).total_seconds(),
            agent_id=reservation.agent_id,
        )
    return LegOutcome(hangup=caller_leg)

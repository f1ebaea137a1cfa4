"""Callbacks: a waiting caller who pressed the callback key hangs up and is called back.

The callback is a task that keeps the caller's place in line (their entry time), so it
never jumps ahead of earlier callers nor falls behind later ones. When an agent accepts
it, the agent waits in a conference while the customer is dialled through Twilio's REST
API; the customer answering joins them. A customer who does not answer is tried again
after `callback_retry_seconds`, up to `callback_attempts` times.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.ext.asyncio import AsyncSession
from twilio.twiml.voice_response import Dial, VoiceResponse

from callcenter import unit_of_work
from callcenter.customers import phones
from callcenter.db import transaction, utcnow
from callcenter.flows import Hangup, Telephony, as_int, end_leg, landing
from callcenter.ivr import render
from callcenter.routing import agents, queues, tasks
from callcenter.routing.models import (
    Reservation,
    ReservationStatus,
    Task,
    TaskChannel,
    TaskStatus,
)
from callcenter.telephony import service as calls
from callcenter.telephony.gateway import GatewayError
from callcenter.telephony.models import Call, CallDirection

log = logging.getLogger("callcenter.flows")

# The worker's timer for a callback's next attempt (its body is in `offers`: a dispatch).
RETRY = "routing.callback.retry"


def caller_id(tel: Telephony, call: Call) -> str | None:
    """The number a callback shows: ours (`twilio_phone_number`), else the one the customer
    called (so they recognise it); None when neither is a real number."""
    return tel.caller_id or phones.to_e164(call.to_number)


def can_call_back(tel: Telephony, call: Call) -> bool:
    """Only a real number can be called back (not anonymous, not a SIP address), and only
    from a real number of ours."""
    return phones.to_e164(call.from_number) is not None and caller_id(tel, call) is not None


async def request(session: AsyncSession, tel: Telephony, *, call: Call, task: Task) -> Task:
    """The caller asked to be called back: a callback task in the same queue, with the same
    priority and the caller's original entry time."""
    assert task.queue_id is not None
    queue = await queues.get_queue(session, queue_id=task.queue_id)
    assert queue is not None
    callback = await tasks.create_task(
        session,
        channel=TaskChannel.callback,
        queue=queue,
        priority=task.priority,
        attributes={
            **(task.attributes or {}), "number": call.from_number,
            "caller_id": caller_id(tel, call),
        },
        call_id=call.id,
        entered_at=task.entered_at,
    )

    # It carries on where the caller was in the queue's workflow (the inbound flow queues
    # the step's timer for the time it has left).
    callback.workflow_id, callback.step = task.workflow_id, task.step
    callback.step_started_at = task.step_started_at
    log.info("routing.callback.requested", extra={"task_id": callback.id, "call_sid": call.sid})
    return callback


def _room(task: Task) -> str:
    return f"callback-{task.id}-{task.attempts}"


def agent_waits(tel: Telephony, task: Task) -> VoiceResponse:
    """The agent accepted a callback: they hear who is being called, then wait in the
    conference for the customer (ended if the agent hangs up)."""
    response = VoiceResponse()
    render.say(response, tel.flow, "Calling the customer back now.")
    dial = Dial()
    dial.conference(
        _room(task), start_conference_on_enter=True, end_conference_on_exit=True, beep=False,
        wait_url="",
    )
    response.append(dial)
    return response


async def accepted(
    session: AsyncSession, tel: Telephony, *, reservation: Reservation, task: Task
) -> VoiceResponse:
    """The agent answered a callback offer: dial the customer once this commits."""
    tasks.accept(reservation, task)
    await agents.answered(session, agent_id=reservation.agent_id, task_id=task.id)
    task.attempts += 1
    unit_of_work.after_commit(
        session, _dial, tel, reservation.id, task.attributes.get("number", ""),
        task.attributes.get("caller_id") or tel.caller_id or "", task.attributes.get("customer_id"),
    )
    return agent_waits(tel, task)


async def _dial(
    tel: Telephony, reservation_id: int, number: str, shown: str, customer_id: int | None
) -> None:
    """Ring the customer for a callback; the new leg is recorded as an outbound call."""
    try:
        outbound = await tel.gateway.call_number(
            to=number,
            caller_id=shown,
            url=tel.urls.callback_connect(reservation_id),
            status_callback=tel.urls.callback_status(reservation_id),
            ring_seconds=tel.callback_ring_seconds,
        )
    except GatewayError:
        async with transaction(tel.sessionmaker) as session:
            legs = await _unanswered(session, tel, reservation_id=reservation_id, reason="failed")
        for leg in legs:  # the agent waits in an empty conference: let them go
            await end_leg(tel, leg)
        return
    async with transaction(tel.sessionmaker) as session:
        call, _ = await calls.start_call(
            session, sid=outbound.sid, from_number=shown,
            to_number=number, direction=CallDirection.outbound, customer_id=customer_id,
        )
        if call.customer_id is None:  # its first status callback made the row already
            call.customer_id = customer_id
        reservation = await tasks.get_reservation(session, reservation_id=reservation_id)
        if reservation is not None:
            reservation.customer_call_sid = outbound.sid


async def customer_answered(
    session: AsyncSession, tel: Telephony, *, reservation_id: int, params: dict[str, str]
) -> VoiceResponse:
    """The customer picked up the callback: into the conference with the agent."""
    reservation = await tasks.get_reservation(session, reservation_id=reservation_id)
    task = await tasks.get_task(session, task_id=reservation.task_id) if reservation else None
    response = VoiceResponse()
    if reservation is None or task is None or reservation.status != ReservationStatus.accepted:
        render.say(response, tel.flow, "Sorry, we tried to call you back. Goodbye.")
        response.hangup()
        return response
    call = await calls.get_by_sid(session, sid=params["CallSid"], lock=True)
    agent = await agents.get_agent(session, agent_id=reservation.agent_id)
    if call is not None and agent is not None:
        calls.mark_connected(call, agent_user_id=agent.user_id)
    render.say(response, tel.flow, "Hello, this is your call back. Connecting you now.")
    dial = Dial()
    dial.conference(
        _room(task), start_conference_on_enter=True, end_conference_on_exit=True, beep=False
    )
    response.append(dial)
    return response


async def customer_leg_status(
    session: AsyncSession, tel: Telephony, *, reservation_id: int, params: dict[str, str]
) -> list[Hangup]:
    """A status callback on the customer's leg of a callback. Unanswered: the agent is
    freed and the callback tried again later (or given up). Ended after talking: the call
    lands on the customer's ticket. Returns legs to end."""
    if not await calls.record_callback(session, params=params):
        return []
    status = calls.parse_status(params.get("CallStatus", ""))
    call = await calls.get_by_sid(session, sid=params["CallSid"], lock=True)
    if call is None:  # the callback beat the row `_dial` makes
        reservation = await tasks.get_reservation(session, reservation_id=reservation_id)
        number = params.get("To", "")
        call, _ = await calls.start_call(
            session, sid=params["CallSid"], from_number=params.get("From", ""),
            to_number=number, direction=CallDirection.outbound,
        )
        if reservation is not None:
            reservation.customer_call_sid = params["CallSid"]
    if status is None:
        return []
    sequence = as_int(params.get("SequenceNumber"))
    calls.apply_status(
        call, status=status, sequence=sequence if sequence is not None else -1,
        duration=as_int(params.get("CallDuration")),
    )
    if not status.is_final:
        return []
    if call.connected_at is None:
        legs = await _unanswered(session, tel, reservation_id=reservation_id, reason=status.value)
        return [leg for leg in legs if leg.call_sid != call.sid]
    await landing.land_on_ticket(session, call=call)
    return []


async def _unanswered(
    session: AsyncSession, tel: Telephony, *, reservation_id: int, reason: str
) -> list[Hangup]:
    """The callback did not connect (the customer did not answer, or the agent left before
    they did): free the agent (no wrap-up, no call counted: there was no conversation), end
    both legs, and put the callback back in line for a later attempt, or give it up once
    the attempts are spent."""
    reservation = await tasks.get_reservation(session, reservation_id=reservation_id)
    if reservation is None or reservation.status != ReservationStatus.accepted:
        return []
    task = await tasks.get_task(session, task_id=reservation.task_id, lock=True)
    assert task is not None
    await session.refresh(reservation)
    if reservation.status != ReservationStatus.accepted:
        return []  # the other leg's callback dealt with it meanwhile
    # Canceled: no conversation to complete (the agent's wrap-up must not finish the task
    # later), and not the agent's doing (they may take the next attempt).
    tasks.close(reservation, status=ReservationStatus.canceled)
    await agents.task_done(
        session, agent_id=reservation.agent_id, task_id=task.id, wrapup_seconds=0,
        talk_seconds=0, counted=False,
    )
    log.info(
        "routing.callback.unanswered",
        extra={"task_id": task.id, "attempt": task.attempts, "status": reason},
    )
    if task.attempts >= tel.callback_attempts or task.attributes.get("click_to_call"):
        tasks.set_status(task, TaskStatus.canceled, reason="callback-unanswered")
    else:
        task.assigned_at = None
        task.available_at = utcnow() + dt.timedelta(seconds=tel.callback_retry_seconds)
        tasks.set_status(task, TaskStatus.pending, reason=f"callback-{reason}")
        if tel.jobs is not None:
            tel.jobs.after_commit(
                session, RETRY, delay=tel.callback_retry_seconds, task_id=task.id
            )
    legs = (reservation.agent_call_sid, reservation.customer_call_sid)
    return [Hangup(sid, ringing=False) for sid in legs if sid]


async def agent_left(
    session: AsyncSession, tel: Telephony, *, reservation: Reservation
) -> list[Hangup] | None:
    """The agent's leg of an accepted callback ended. Before the customer answered, that
    attempt failed (legs to end returned); after, None: the call ended normally."""
    if reservation.customer_call_sid is not None:
        customer = await calls.get_by_sid(session, sid=reservation.customer_call_sid)
        if customer is not None and customer.connected_at is not None:
            return None
    legs = await _unanswered(session, tel, reservation_id=reservation.id, reason="agent-left")
    return [leg for leg in legs if leg.call_sid != reservation.agent_call_sid]

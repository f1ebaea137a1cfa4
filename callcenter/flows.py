"""Use cases that span domains: a call from the first ring to the ticket it lands on.

Each function is one Twilio webhook's worth of work. Those that talk to Twilio's REST API
open their own short transactions and never hold one across the REST call: Twilio may
call us back before it answers, and that request must not wait on our lock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from twilio.twiml.voice_response import Dial, VoiceResponse

from callcenter.accounts import service as accounts
from callcenter.blocklist import service as blocklist
from callcenter.customers import phones
from callcenter.customers import service as customers
from callcenter.customers.models import Customer
from callcenter.db import transaction, utcnow
from callcenter.ivr import render
from callcenter.ivr.flow import Flow, MenuNode, QueueNode, VoicemailNode
from callcenter.routing import service as routing
from callcenter.routing.models import Reservation, ReservationStatus
from callcenter.telephony import service as calls
from callcenter.telephony.gateway import GatewayError, TwilioGateway
from callcenter.telephony.models import Call, CallStatus, Outcome
from callcenter.telephony.urls import VoiceUrls
from callcenter.tickets import service as tickets
from callcenter.tickets.models import Channel, TicketEventKind

log = logging.getLogger("callcenter.flows")


@dataclass
class Telephony:
    """What call flows need besides a session: the flow, our URLs, the REST gateway."""

    flow: Flow
    urls: VoiceUrls
    gateway: TwilioGateway
    sessionmaker: async_sessionmaker[AsyncSession]
    agent_ring_seconds: int = 20


# --- The caller's side -------------------------------------------------------------------


async def incoming_call(
    session: AsyncSession, tel: Telephony, *, params: dict[str, str]
) -> VoiceResponse:
    """A new call: refuse blocked numbers unanswered, otherwise greet and start the flow."""
    raw_caller = params.get("From", "")
    caller = phones.to_e164(raw_caller)
    entry = await blocklist.match(
        session, number=caller, anonymous=phones.is_anonymous(raw_caller)
    )
    call = await calls.start_inbound(
        session,
        sid=params["CallSid"],
        from_number=caller or raw_caller or "anonymous",
        to_number=params.get("To", ""),
        customer_id=None,
    )
    if entry is not None:
        await blocklist.record_hit(session, entry=entry)
        call.outcome = Outcome.blocked
        log.info("telephony.call.blocked", extra={"call_sid": call.sid, "entry_id": entry.id})
        response = VoiceResponse()
        response.reject(reason="rejected")
        return response
    if caller is not None:
        call.customer_id = (await customers.find_or_create_by_phone(session, phone=caller)).id
    log.info("telephony.call.incoming", extra={"call_sid": call.sid})
    return render.render(
        tel.flow, tel.flow.start, tel.urls, queue_open=await routing.agents_online(session) > 0
    )


async def menu_choice(
    session: AsyncSession, tel: Telephony, *, params: dict[str, str], node_id: str, attempt: int
) -> VoiceResponse:
    """A Gather came back: go where the caller chose, ask again, or give up kindly."""
    node = tel.flow.nodes.get(node_id)
    if not isinstance(node, MenuNode):
        return render.render(tel.flow, tel.flow.start, tel.urls)
    digits = params.get("Digits", "").strip()
    speech = params.get("SpeechResult", "").strip()
    option = render.choose(node, digits=digits, speech=speech)
    queue_open = await routing.agents_online(session) > 0
    if option is not None:
        return render.render(tel.flow, option.next, tel.urls, queue_open=queue_open)
    if attempt >= node.attempts:
        return render.render(tel.flow, node.no_input, tel.urls, queue_open=queue_open)
    response = VoiceResponse()
    if digits or speech:
        render.say(response, tel.flow, node.invalid)
    return render.render(tel.flow, node_id, tel.urls, attempt=attempt + 1, response=response)


async def queue_wait(
    session: AsyncSession, tel: Telephony, *, params: dict[str, str], node_id: str
) -> VoiceResponse:
    """One round of the wait loop: note the caller is queued, tell them where they stand.

    A caller whose wait passed the node's limit, or who waits while nobody is signed in,
    leaves the queue for the node's `no_agents` step (voicemail by default).
    """
    node = tel.flow.nodes.get(node_id)
    call = await calls.get_by_sid(session, sid=params["CallSid"], lock=True)
    if not isinstance(node, QueueNode) or call is None:
        response = VoiceResponse()
        response.leave()
        return response
    first = call.enqueued_at is None
    calls.mark_enqueued(call, queue=node.queue, queue_sid=params.get("QueueSid"))
    queue_time = _int(params.get("QueueTime"))
    give_up = (queue_time or 0) >= node.max_wait or await routing.agents_online(session) == 0
    if give_up and await routing.open_reservation(session, call_id=call.id) is None:
        response = VoiceResponse()
        response.leave()
        return response
    return render.wait_message(
        tel.flow, node, position=_int(params.get("QueuePosition")) or 0, first=first
    )


async def queue_result(
    session: AsyncSession, tel: Telephony, *, params: dict[str, str], node_id: str
) -> tuple[VoiceResponse, str | None]:
    """The caller's Enqueue ended. Returns the TwiML and an agent leg to cancel, if any."""
    result = params.get("QueueResult", "")
    call = await calls.get_by_sid(session, sid=params["CallSid"], lock=True)
    node = tel.flow.nodes.get(node_id)
    response = VoiceResponse()
    if call is None:
        response.hangup()
        return response, None
    calls.record_queue_result(call, result=result, queue_seconds=_int(params.get("QueueTime")))
    if result in ("bridged", "redirected"):
        return response, None
    cancel = await _withdraw_offer(session, call=call)
    if result == "hangup":
        call.outcome = Outcome.abandoned
        log.info("routing.call.abandoned", extra={"call_sid": call.sid})
        await land_on_ticket(session, call=call)
        return response, cancel
    if isinstance(node, QueueNode):
        return render.render(tel.flow, node.no_agents, tel.urls), cancel
    response.hangup()
    return response, cancel


async def voicemail_recorded(
    session: AsyncSession, tel: Telephony, *, params: dict[str, str], node_id: str
) -> VoiceResponse:
    """A message was left: keep where it is; it lands on the ticket when the call ends."""
    call = await calls.get_by_sid(session, sid=params["CallSid"], lock=True)
    if call is not None:
        call.outcome = Outcome.voicemail
        call.recording_sid = params.get("RecordingSid") or call.recording_sid
        call.recording_url = params.get("RecordingUrl") or call.recording_url
    node = tel.flow.nodes.get(node_id)
    response = VoiceResponse()
    render.say(response, tel.flow, node.thanks if isinstance(node, VoicemailNode) else "Goodbye.")
    response.hangup()
    return response


async def recording_ready(session: AsyncSession, *, params: dict[str, str]) -> None:
    """Twilio finished processing a recording: keep its final URL on the call."""
    call = await calls.get_by_sid(session, sid=params["CallSid"], lock=True)
    if call is not None and params.get("RecordingStatus") == "completed":
        call.recording_sid = params.get("RecordingSid") or call.recording_sid
        call.recording_url = params.get("RecordingUrl") or call.recording_url


async def call_status(session: AsyncSession, *, params: dict[str, str]) -> str | None:
    """A status callback for a caller's call. Returns an agent leg to cancel, if any.

    Stored once, applied only if it moves the call forward; a final status lands the call
    on the customer's ticket.
    """
    if not await calls.record_callback(session, params=params):
        return None
    call = await calls.get_by_sid(session, sid=params["CallSid"], lock=True)
    status = calls.parse_status(params.get("CallStatus", ""))
    if call is None or status is None:
        return None
    sequence = _int(params.get("SequenceNumber"))
    changed = calls.apply_status(
        call,
        status=status,
        sequence=sequence if sequence is not None else -1,
        duration=_int(params.get("CallDuration")),
    )
    if not changed or not call.status.is_final:
        return None
    cancel = await _withdraw_offer(session, call=call)
    log.info("telephony.call.ended", extra={"call_sid": call.sid, "outcome": call.outcome})
    await land_on_ticket(session, call=call)
    return cancel


async def land_on_ticket(session: AsyncSession, *, call: Call, force: bool = False) -> None:
    """Put a finished call on its customer's open ticket, or a new one. Blocked calls don't.

    A call lands once Twilio has told us everything about it: its final status, the
    QueueResult of its Enqueue (the real wait) and, if an agent took it, the end of the
    agent's leg (the real talk time). These webhooks race; whichever comes last lands the
    call. `force` lands what we have, for the worker when one of them never came.
    """
    if call.outcome == Outcome.blocked or not call.status.is_final:
        return
    if not force:
        if call.enqueued_at is not None and call.queue_result is None:
            return
        reservation = await routing.open_reservation(session, call_id=call.id)
        if reservation is not None and reservation.status == ReservationStatus.accepted:
            return
    if call.customer_id is None:
        anonymous = Customer(name="Anonymous caller")
        session.add(anonymous)
        await session.flush()
        call.customer_id = anonymous.id
    agent = await accounts.get(session, user_id=call.agent_id) if call.agent_id else None
    voicemail = call.outcome == Outcome.voicemail
    await tickets.add_contact(
        session,
        customer_id=call.customer_id,
        channel=Channel.phone,
        kind=TicketEventKind.voicemail if voicemail else TicketEventKind.call,
        subject=f"{'Voicemail' if voicemail else 'Call'} from {call.from_number}",
        body=_summary(call, agent.email if agent else None),
        call_id=call.id,
        data={
            "call_sid": call.sid,
            "outcome": call.outcome,
            "queue": call.queue,
            "wait_seconds": call.wait_seconds,
            "talk_seconds": call.talk_seconds,
            "recording_url": call.recording_url,
        },
    )


def _summary(call: Call, agent_email: str | None) -> str:
    parts = [f"Inbound call from {call.from_number}"]
    if call.queue:
        parts.append(f"queue {call.queue}")
    if call.wait_seconds is not None:
        parts.append(f"waited {call.wait_seconds} s")
    if agent_email:
        parts.append(f"answered by {agent_email}, talked {call.talk_seconds or 0} s")
    else:
        parts.append(str(call.outcome or "ended").replace("-", " "))
    return ", ".join(parts) + "."


async def _withdraw_offer(session: AsyncSession, *, call: Call) -> str | None:
    """The caller is gone: close a ringing offer; returns the agent leg to hang up."""
    reservation = await routing.open_reservation(session, call_id=call.id)
    if reservation is None or reservation.status != ReservationStatus.pending:
        return None
    routing.close_reservation(reservation, status=ReservationStatus.canceled)
    await routing.release(session, agent_id=reservation.agent_id, after_call=False)
    return reservation.agent_call_sid


# --- The agent's side --------------------------------------------------------------------


async def dispatch(tel: Telephony) -> int:
    """Offer waiting calls, oldest first, to the longest-idle free agents. Returns offers made.

    Safe to run anywhere, any time, on any instance: claiming an agent is atomic, and a call
    with an offer in flight is skipped.
    """
    offers: list[tuple[int, str, str]] = []
    async with transaction(tel.sessionmaker) as session:
        for call in await calls.waiting_calls(session):
            if await routing.open_reservation(session, call_id=call.id) is not None:
                continue
            declined = await routing.agents_who_declined(session, call_id=call.id)
            agent = await routing.claim_longest_idle(session, exclude=declined)
            if agent is None:
                continue
            reservation = await routing.create_reservation(session, call_id=call.id, agent=agent)
            offers.append((reservation.id, agent.client_identity, call.from_number))
    for reservation_id, identity, caller_id in offers:
        await _ring_agent(
            tel, reservation_id=reservation_id, identity=identity, caller_id=caller_id
        )
    return len(offers)


async def _ring_agent(
    tel: Telephony, *, reservation_id: int, identity: str, caller_id: str
) -> None:
    try:
        outbound = await tel.gateway.call_client(
            identity=identity,
            caller_id=caller_id,
            url=tel.urls.agent_answer(reservation_id),
            status_callback=tel.urls.agent_status(reservation_id),
            ring_seconds=tel.agent_ring_seconds,
        )
    except GatewayError:
        async with transaction(tel.sessionmaker) as session:
            reservation = await routing.get_reservation(session, reservation_id=reservation_id)
            if reservation is not None and reservation.status == ReservationStatus.pending:
                routing.close_reservation(reservation, status=ReservationStatus.canceled)
                await routing.release(session, agent_id=reservation.agent_id, after_call=False)
        return
    async with transaction(tel.sessionmaker) as session:
        reservation = await routing.get_reservation(session, reservation_id=reservation_id)
        if reservation is not None and reservation.agent_call_sid is None:
            reservation.agent_call_sid = outbound.sid
    log.info(
        "routing.offer.ringing",
        extra={"reservation_id": reservation_id, "agent_call_sid": outbound.sid},
    )


async def _locked(
    session: AsyncSession, *, reservation_id: int
) -> tuple[Reservation | None, Call | None]:
    """A reservation and its call, the call's row locked first (the order every flow takes
    locks in), then the reservation re-read under that lock."""
    reservation = await routing.get_reservation(session, reservation_id=reservation_id)
    if reservation is None:
        return None, None
    call = await calls.get(session, call_id=reservation.call_id, lock=True)
    await session.refresh(reservation)
    return reservation, call


def _room(call: Call) -> str:
    return f"call-{call.sid}"


def _conference(room: str) -> VoiceResponse:
    """Both legs meet in a conference named for the call, so hold and transfer can follow."""
    response = VoiceResponse()
    dial = Dial()
    dial.conference(room, start_conference_on_enter=True, end_conference_on_exit=True, beep=False)
    response.append(dial)
    return response


async def agent_answered(tel: Telephony, *, reservation_id: int) -> VoiceResponse:
    """The agent picked up: pull the caller out of the queue and meet them in a conference."""
    async with transaction(tel.sessionmaker) as session:
        reservation, call = await _locked(session, reservation_id=reservation_id)
        gone = (
            reservation is None
            or call is None
            or reservation.status != ReservationStatus.pending
            or call.status.is_final
            or call.outcome is not None
            or not call.queue_sid
        )
        if not gone:
            assert reservation is not None and call is not None
            reservation.status = ReservationStatus.accepted
            reservation.answered_at = utcnow()
            await routing.mark_busy(session, agent_id=reservation.agent_id)
            queue_sid, call_sid, room = call.queue_sid, call.sid, _room(call)
    if gone:
        return _caller_gone(tel)
    try:
        await tel.gateway.dequeue(
            queue_sid=queue_sid or "",
            call_sid=call_sid,
            url=tel.urls.caller_connect(reservation_id),
        )
    except GatewayError:
        async with transaction(tel.sessionmaker) as session:
            reservation = await routing.get_reservation(session, reservation_id=reservation_id)
            if reservation is not None:
                routing.close_reservation(reservation, status=ReservationStatus.canceled)
                await routing.release(session, agent_id=reservation.agent_id, after_call=False)
        return _caller_gone(tel)
    return _conference(room)


def _caller_gone(tel: Telephony) -> VoiceResponse:
    response = VoiceResponse()
    render.say(response, tel.flow, "Sorry, the caller has already hung up.")
    response.hangup()
    return response


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


_OFFER_END = {
    "busy": ReservationStatus.rejected,
    "failed": ReservationStatus.rejected,
    "no-answer": ReservationStatus.timeout,
    "canceled": ReservationStatus.canceled,
}


async def agent_leg_status(
    session: AsyncSession, *, params: dict[str, str], reservation_id: int
) -> bool:
    """A status callback on an agent's leg. True when the agent is free again (dispatch)."""
    if not await calls.record_callback(session, params=params):
        return False
    status = params.get("CallStatus", "")
    reservation, call = await _locked(session, reservation_id=reservation_id)
    if reservation is None or not reservation.status.is_open:
        return False
    if reservation.agent_call_sid is None:
        reservation.agent_call_sid = params["CallSid"]
    if status in _OFFER_END and reservation.status == ReservationStatus.pending:
        routing.close_reservation(reservation, status=_OFFER_END[status])
        await routing.release(session, agent_id=reservation.agent_id, after_call=False)
        log.info(
            "routing.offer.declined", extra={"reservation_id": reservation.id, "status": status}
        )
        return True
    if status == CallStatus.completed.value:
        answered = reservation.status == ReservationStatus.accepted
        routing.close_reservation(
            reservation,
            status=ReservationStatus.completed if answered else ReservationStatus.timeout,
        )
        await routing.release(session, agent_id=reservation.agent_id, after_call=answered)
        if answered and call is not None:
            calls.record_talk_time(call, talk_seconds=_int(params.get("CallDuration")))
            await session.flush()
            await land_on_ticket(session, call=call)
        return True
    return False


def _int(raw: str | None) -> int | None:
    try:
        return int(raw) if raw not in (None, "") else None
    except ValueError:
        return None

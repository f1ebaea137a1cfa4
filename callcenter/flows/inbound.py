"""The caller's side of a call: the first ring, the IVR, the queue, voicemail, the end."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession
from twilio.twiml.voice_response import VoiceResponse

from callcenter.blocklist import service as blocklist
from callcenter.customers import phones
from callcenter.customers import service as customers
from callcenter.flows import LEAVING, Hangup, Telephony, as_int, landing, offers
from callcenter.ivr import render
from callcenter.ivr.flow import MenuNode, QueueNode, VoicemailNode
from callcenter.routing import service as routing
from callcenter.telephony import service as calls
from callcenter.telephony.models import Outcome

log = logging.getLogger("callcenter.flows")


async def incoming_call(
    session: AsyncSession, tel: Telephony, *, params: dict[str, str]
) -> VoiceResponse:
    """A new call: refuse blocked numbers unanswered, otherwise greet and start the flow."""
    raw_caller = params.get("From", "")
    caller = phones.to_e164(raw_caller)
    entry = await blocklist.match(session, number=caller, anonymous=phones.is_anonymous(raw_caller))
    call, _ = await calls.start_inbound(
        session,
        sid=params["CallSid"],
        from_number=caller or raw_caller or "anonymous",
        to_number=params.get("To", ""),
    )
    if entry is not None:
        if call.outcome != Outcome.blocked:  # a retried webhook is one call, one hit
            await blocklist.record_hit(session, entry=entry)
        call.outcome = Outcome.blocked
        log.info("telephony.call.blocked", extra={"call_sid": call.sid, "entry_id": entry.id})
        response = VoiceResponse()
        response.reject(reason="rejected")
        return response
    if caller is not None and call.customer_id is None:
        call.customer_id = (await customers.find_or_create_by_phone(session, phone=caller)).id
    if call.status.is_final:
        # Its status callback came first (see `call_status`): the caller has hung up.
        log.info("telephony.call.ended", extra={"call_sid": call.sid, "outcome": call.outcome})
        await landing.land_on_ticket(session, call=call)
        response = VoiceResponse()
        response.hangup()
        return response
    log.info("telephony.call.incoming", extra={"call_sid": call.sid})
    return render.render(
        tel.flow, tel.flow.start, tel.urls, queue_open=await routing.agents_online(session) > 0
    )


async def menu_choice(
    session: AsyncSession, tel: Telephony, *, params: dict[str, str], node_id: str, attempt: int
) -> VoiceResponse:
    """A Gather came back: go where the caller chose, ask again, or give up kindly.

    A node gone from the flow (edited mid-call) starts the caller over rather than drop them.
    """
    queue_open = await routing.agents_online(session) > 0
    node = tel.flow.nodes.get(node_id)
    if not isinstance(node, MenuNode):
        return render.render(tel.flow, tel.flow.start, tel.urls, queue_open=queue_open)
    digits = params.get("Digits", "").strip()
    speech = params.get("SpeechResult", "").strip()
    option = render.choose(node, digits=digits, speech=speech)
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
) -> tuple[VoiceResponse, Hangup | None]:
    """One round of the wait loop: note the caller is queued, tell them where they stand.

    A caller whose wait passed the node's limit, or who waits while nobody is signed in,
    leaves the queue for the node's `no_agents` step (voicemail by default), unless an
    agent is being rung for them right now. Returns an agent leg to hang up, if any.
    """
    node = tel.flow.nodes.get(node_id)
    call = await calls.get_by_sid(session, sid=params["CallSid"], lock=True)
    response = VoiceResponse()
    if not isinstance(node, QueueNode) or call is None:
        response.leave()
        return response, None
    first = call.enqueued_at is None
    calls.mark_enqueued(call, queue=node.queue, queue_sid=params.get("QueueSid"))
    hangup = await offers.withdraw_if_stale(session, tel, call=call)
    give_up = (as_int(params.get("QueueTime")) or 0) >= node.max_wait
    give_up = give_up or await routing.agents_online(session) == 0
    if give_up and await routing.open_reservation(session, call_id=call.id) is None:
        call.queue_result = LEAVING
        response.leave()
        return response, hangup
    position = as_int(params.get("QueuePosition")) or 0
    return render.wait_message(tel.flow, node, position=position, first=first), hangup


def keep_waiting() -> VoiceResponse:
    """What a waiting caller hears when a round of the wait loop failed on our side: a
    short pause, then Twilio fetches the wait URL again. Better than dropping them."""
    response = VoiceResponse()
    response.pause(length=5)
    return response


async def queue_result(
    session: AsyncSession, tel: Telephony, *, params: dict[str, str], node_id: str
) -> tuple[VoiceResponse, Hangup | None]:
    """The caller's Enqueue ended (Twilio's QueueResult). Returns the TwiML and a leg to end."""
    result = params.get("QueueResult", "")
    call = await calls.get_by_sid(session, sid=params["CallSid"], lock=True)
    node = tel.flow.nodes.get(node_id)
    response = VoiceResponse()
    if call is None:
        response.hangup()
        return response, None
    calls.record_queue_result(call, result=result, queue_seconds=as_int(params.get("QueueTime")))
    if result in ("bridged", "redirected"):
        return response, None
    hangup = await offers.withdraw(session, call=call)
    if result == "hangup":
        call.outcome = Outcome.abandoned
        log.info("routing.call.abandoned", extra={"call_sid": call.sid})
        await landing.land_on_ticket(session, call=call)
        return response, hangup
    if isinstance(node, QueueNode):
        return render.render(tel.flow, node.no_agents, tel.urls), hangup
    response.hangup()
    return response, hangup


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


async def call_status(session: AsyncSession, *, params: dict[str, str]) -> Hangup | None:
    """A status callback for a caller's call. Returns an agent leg to end, if any.

    Stored once, applied only if it moves the call forward; a final status withdraws any
    offer still open for the caller and lands the call on the customer's ticket.

    A callback can beat the call's first webhook (handled by another instance, or stuck
    behind a lock). It then makes the call's row itself, with the same conflict-tolerant
    insert the first webhook uses: whichever comes second waits for the other's commit on
    the unique CallSid and then applies its part to the row, so neither is lost. The first
    webhook, finding the call over, matches the customer and lands it (a blocked caller's
    call is never landed, so the callback leaves landing a call it made to that webhook).
    """
    if not await calls.record_callback(session, params=params):
        return None
    status = calls.parse_status(params.get("CallStatus", ""))
    if status is None:
        return None
    call = await calls.get_by_sid(session, sid=params["CallSid"], lock=True)
    made_here = call is None
    if call is None:
        raw_caller = params.get("From", "")
        call, made_here = await calls.start_inbound(
            session,
            sid=params["CallSid"],
            from_number=phones.to_e164(raw_caller) or raw_caller or "anonymous",
            to_number=params.get("To", ""),
        )
    sequence = as_int(params.get("SequenceNumber"))
    changed = calls.apply_status(
        call,
        status=status,
        sequence=sequence if sequence is not None else -1,
        duration=as_int(params.get("CallDuration")),
    )
    if not changed or not call.status.is_final or made_here:
        return None
    hangup = await offers.withdraw(session, call=call)
    log.info("telephony.call.ended", extra={"call_sid": call.sid, "outcome": call.outcome})
    await landing.land_on_ticket(session, call=call)
    return hangup

"""The caller's side of a call: the first ring, the IVR, the queue, voicemail, the end."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession
from twilio.twiml.voice_response import VoiceResponse

from callcenter.blocklist import service as blocklist
from callcenter.customers import phones
from callcenter.customers import service as customers
from callcenter.db import utcnow
from callcenter.flows import Hangup, Telephony, as_int, callbacks, escalation, landing, offers
from callcenter.ivr import engine, render
from callcenter.ivr import service as library
from callcenter.ivr.flow import Flow, QueueNode, VoicemailNode
from callcenter.routing import queues, tasks
from callcenter.routing.models import Task, TaskChannel, TaskQueue, TaskStatus
from callcenter.telephony import service as calls
from callcenter.telephony.models import Call, Outcome
from callcenter.telephony.urls import VoiceUrls

log = logging.getLogger("callcenter.flows")


async def incoming_call(
    session: AsyncSession, tel: Telephony, *, params: dict[str, str]
) -> VoiceResponse:
    """A new call: refuse blocked numbers unanswered, otherwise greet and start the flow."""
    raw_caller = params.get("From", "")
    caller = phones.to_e164(raw_caller)
    entry = await blocklist.match(session, number=caller, anonymous=phones.is_anonymous(raw_caller))
    call, _ = await calls.start_call(
        session,
        sid=params["CallSid"],
        from_number=caller or raw_caller or "anonymous",
        to_number=params.get("To", ""),
        flow_version_id=library.published_version(
            number=params.get("To", ""), default=tel.flow.name
        ),
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
    flow, urls = await pinned(session, tel, call.flow_version_id)
    outcome = engine.enter(flow, flow.start, staffed=await queues.staffed_names(session))
    _carry(call, outcome)
    return render.twiml(flow, outcome, urls)


def _carry(call: Call, outcome: engine.Outcome) -> None:
    """What `set` nodes on the way set, kept on the call for the queue it reaches."""
    if outcome.fields:
        call.ivr_fields = engine.merge_fields(call.ivr_fields or {}, outcome.fields)


async def pinned(
    session: AsyncSession, tel: Telephony, version: int | None
) -> tuple[Flow, VoiceUrls]:
    """The flow version a call is in (named by its URLs, or by its row on the first
    webhook), and URLs that keep it there; the flow loaded at start-up when the version is
    unknown (a URL from before flows were versioned)."""
    if version is not None:
        flow = await library.flow_of_version(session, version_id=version)
        if flow is not None:
            return flow, tel.urls.pinned(version)
    return tel.flow, tel.urls


async def menu_choice(
    session: AsyncSession, tel: Telephony, *, params: dict[str, str], node_id: str, attempt: int,
    version: int | None = None,
) -> VoiceResponse:
    """A Gather came back: go where the caller chose, ask again, or give up kindly.

    A node gone from the flow (edited mid-call) starts the caller over rather than drop them.
    """
    flow, urls = await pinned(session, tel, version)
    outcome = engine.answer(
        flow, node_id, attempt=attempt, digits=params.get("Digits", ""),
        speech=params.get("SpeechResult", ""), staffed=await queues.staffed_names(session),
    )
    if outcome.fields:  # read the call only when a set node has something for it
        call = await calls.get_by_sid(session, sid=params["CallSid"], lock=True)
        if call is not None:
            _carry(call, outcome)
    return render.twiml(flow, outcome, urls)


async def queue_wait(
    session: AsyncSession, tel: Telephony, *, params: dict[str, str], node_id: str,
    version: int | None = None,
) -> tuple[VoiceResponse, list[Hangup]]:
    """One round of the wait loop: the caller's task made on the first, then where they
    stand in line and how long it may take.

    A caller leaves the line (TwiML `<Leave>`) for the node's `no_agents` step when nobody
    staffs the queue or their wait passed the node's limit; a full queue or one whose
    maximum wait has passed sends them to its overflow target (another queue, keeping
    their age, or voicemail). Never while an agent is being rung for them. Returns agent
    legs to hang up (offers that went stale).
    """
    flow, urls = await pinned(session, tel, version)
    node = flow.nodes.get(node_id)
    call = await calls.get_by_sid(session, sid=params["CallSid"], lock=True)
    response = VoiceResponse()
    if not isinstance(node, QueueNode) or call is None:
        response.leave()
        return response, []
    task = await tasks.voice_task(session, call_id=call.id, lock=True)
    first = task is None
    if task is None:
        task = await _enter_queue(session, tel, call=call, node=node)
    if task is None:
        response.leave()
        return response, []
    if params.get("QueueSid") and not task.twilio_queue_sid:
        task.twilio_queue_sid = params["QueueSid"]
    hangups = await offers.withdraw_if_stale(session, tel, task=task, call=call)
    if task.leaving is None and task.status in (TaskStatus.completed, TaskStatus.canceled):
        # Still in line with a task that is over (its answer went wrong somewhere): rather
        # than wait for no one, the caller goes on to `no_agents`.
        log.error("routing.task.over_while_waiting", extra={"task_id": task.id})
        task.leaving = NO_AGENTS
    staffing = 0
    if task.leaving is None and task.status == TaskStatus.pending:
        leaving = await _limits(session, tel, task=task, node=node, params=params)
        if leaving is None:
            assert task.queue_id is not None
            staffing = await queues.staffing_count(session, queue_id=task.queue_id)
            leaving = None if staffing else NO_AGENTS
        if leaving is not None:
            task.leaving = leaving
            log.info("routing.task.leaving", extra={"task_id": task.id, "why": leaving})
    if task.leaving is not None:
        response.leave()
        return response, hangups
    assert task.queue_id is not None
    place = await tasks.position(session, task=task)
    if not staffing:  # an agent is being rung for them: the queue's staffing, for the estimate
        staffing = await queues.staffing_count(session, queue_id=task.queue_id)
    estimate = await tasks.estimated_wait(
        session, queue_id=task.queue_id, position=place, agents_staffing=staffing
    )
    message = render.wait_message(
        flow, node_id, urls, position=place, first=first, estimate=estimate,
        callback=callbacks.can_call_back(tel, call),
    )
    return message, hangups


async def queue_key(
    session: AsyncSession, tel: Telephony, *, params: dict[str, str], node_id: str,
    version: int | None = None,
) -> VoiceResponse:
    """A waiting caller pressed a key: the voicemail key or the callback key leaves the line
    (Twilio then reports the Enqueue's end, and `queue_result` takes them on); any other
    key is ignored and the wait goes on."""
    flow, _urls = await pinned(session, tel, version)
    node = flow.nodes.get(node_id)
    call = await calls.get_by_sid(session, sid=params["CallSid"], lock=True)
    response = VoiceResponse()
    task = await tasks.voice_task(session, call_id=call.id, lock=True) if call else None
    if not isinstance(node, QueueNode) or call is None or task is None:
        return response
    digits = params.get("Digits", "")
    wanted = {node.voicemail_key: VOICEMAIL}
    if callbacks.can_call_back(tel, call):
        wanted[node.callback_key] = CALLBACK
    leaving = wanted.get(digits) if digits else None
    if leaving is None or task.status != TaskStatus.pending or task.leaving is not None:
        return response  # an agent is ringing for them already: let it ring
    task.leaving = leaving
    log.info("routing.task.leaving", extra={"task_id": task.id, "why": leaving})
    response.leave()
    return response


async def _enter_queue(
    session: AsyncSession, tel: Telephony, *, call: Call, node: QueueNode
) -> Task | None:
    """The caller's task, in the node's queue with the node's priority and requirements;
    straight to the queue's overflow target when it is full. None if the queue is gone
    (the caller is sent on to `no_agents` rather than wait in a line nobody serves)."""
    queue = await queues.queue_named(session, name=node.queue)
    if queue is None:
        log.error("routing.queue.missing", extra={"queue": node.queue, "node": node.queue})
        return None
    attributes: dict[str, object] = {"from": call.from_number, "customer_id": call.customer_id}
    # The node's own requirements, with what the flow's set nodes set on the call.
    fields = engine.merge_fields(
        {"priority": node.priority, "skills": list(node.skills),
         "ticket_priority": node.ticket_priority}, call.ivr_fields or {},
    )
    if fields.get("skills"):
        attributes["required_skills"] = list(fields["skills"])
    if node.language:
        attributes["language"] = node.language
    if fields.get("ticket_priority"):
        attributes["ticket_priority"] = fields["ticket_priority"]
    full = queue.max_size is not None and (
        await tasks.waiting_in(session, queue_id=queue.id) >= queue.max_size
    )
    task = await tasks.create_task(
        session, channel=TaskChannel.voice, queue=queue, priority=fields.get("priority") or 0,
        attributes=attributes, call_id=call.id,
    )
    await escalation.follow(session, tel, task=task, queue=queue)
    if full:
        task.leaving = await _overflow(session, task=task, queue=queue, why="full")
    return task


async def _limits(
    session: AsyncSession, tel: Telephony, *, task: Task, node: QueueNode, params: dict[str, str]
) -> str | None:
    """Why a waiting caller must leave the line now (their queue's staffing aside), or None.
    Moves them on through their workflow, or to an overflow queue (keeping their age), when
    that is where they go."""
    if (leaving := await escalation.escalate_if_due(session, tel, task=task)) is not None:
        return leaving
    assert task.queue_id is not None
    queue = await queues.get_queue(session, queue_id=task.queue_id)
    assert queue is not None
    in_queue = (utcnow() - task.step_started_at).total_seconds()
    if queue.max_wait_seconds is not None and in_queue >= queue.max_wait_seconds:
        leaving = await _overflow(session, task=task, queue=queue, why="max-wait")
        if leaving is not None:
            return leaving
        queue = await queues.get_queue(session, queue_id=task.queue_id)
        assert queue is not None
    if (as_int(params.get("QueueTime")) or 0) >= node.max_wait:
        return NO_AGENTS
    return None


NO_AGENTS = "no-agents"
OVERFLOW = "overflow"
VOICEMAIL = escalation.VOICEMAIL
CALLBACK = "callback"


async def _overflow(session: AsyncSession, *, task: Task, queue: TaskQueue, why: str) -> str | None:
    """Send a task to its queue's overflow target: another queue (the task keeps its age
    and is routed there from now), or voicemail (returns the reason to leave the line)."""
    target = await queues.queue_named(session, name=queue.overflow) if queue.overflow else None
    log.info(
        "routing.task.overflow",
        extra={"task_id": task.id, "queue": queue.name, "why": why, "to": queue.overflow},
    )
    if target is None:
        return OVERFLOW
    # The overflow queue's own line from now: the first queue's workflow no longer applies.
    task.workflow_id, task.step = None, 0
    await tasks.move(session, task=task, queue=target, reason=f"overflow: {why}")
    return None


def keep_waiting() -> VoiceResponse:
    """What a waiting caller hears when a round of the wait loop failed on our side: a
    short pause, then Twilio fetches the wait URL again. Better than dropping them."""
    response = VoiceResponse()
    response.pause(length=5)
    return response


async def queue_result(
    session: AsyncSession, tel: Telephony, *, params: dict[str, str], node_id: str,
    version: int | None = None,
) -> tuple[VoiceResponse, list[Hangup]]:
    """The caller's Enqueue ended (Twilio's QueueResult). Returns the TwiML and legs to end."""
    flow, urls = await pinned(session, tel, version)
    result = params.get("QueueResult", "")
    call = await calls.get_by_sid(session, sid=params["CallSid"], lock=True)
    node = flow.nodes.get(node_id)
    response = VoiceResponse()
    if call is None:
        response.hangup()
        return response, []
    task = await tasks.voice_task(session, call_id=call.id, lock=True)
    if task is not None:
        tasks.record_queue_result(
            task, result=result, queue_seconds=as_int(params.get("QueueTime"))
        )
    if result in ("bridged", "redirected"):
        return response, []
    if result == "hangup":
        hangups = await offers.withdraw(session, call=call, reason="abandoned")
        call.outcome = Outcome.abandoned
        log.info("routing.call.abandoned", extra={"call_sid": call.sid})
        await landing.land_on_ticket(session, call=call)
        return response, hangups
    why = (task.leaving if task is not None else None) or NO_AGENTS
    hangups = await offers.withdraw(session, call=call, reason=why)
    if why == CALLBACK and task is not None:
        callback = await callbacks.request(session, tel, call=call, task=task)
        await escalation.resume(session, tel, task=callback)
        call.outcome = Outcome.callback
        render.say(
            response, flow,
            "Thank you. We will call you back at this number, in your turn. Goodbye.",
        )
        response.hangup()
        return response, hangups
    if isinstance(node, QueueNode):
        return render.render(flow, _after_queue(flow, node, why), urls), hangups
    response.hangup()
    return response, hangups


def _after_queue(flow: Flow, node: QueueNode, why: str) -> str:
    """Where a caller who left the line goes: voicemail for an overflow to voicemail (the
    node's `no_agents` if it is one, else the flow's first voicemail), else `no_agents`."""
    if why in (OVERFLOW, VOICEMAIL) and not isinstance(
        flow.nodes[node.no_agents], VoicemailNode
    ):
        for node_id, other in flow.nodes.items():
            if isinstance(other, VoicemailNode):
                return node_id
    return node.no_agents


async def voicemail_recorded(
    session: AsyncSession, tel: Telephony, *, params: dict[str, str], node_id: str,
    version: int | None = None,
) -> VoiceResponse:
    """A message was left: keep where it is; it lands on the ticket when the call ends."""
    flow, _urls = await pinned(session, tel, version)
    call = await calls.get_by_sid(session, sid=params["CallSid"], lock=True)
    if call is not None:
        call.outcome = Outcome.voicemail
        call.recording_sid = params.get("RecordingSid") or call.recording_sid
        call.recording_url = params.get("RecordingUrl") or call.recording_url
    node = flow.nodes.get(node_id)
    response = VoiceResponse()
    render.say(response, flow, node.thanks if isinstance(node, VoicemailNode) else "Goodbye.")
    response.hangup()
    return response


async def recording_ready(session: AsyncSession, *, params: dict[str, str]) -> None:
    """Twilio finished processing a recording: keep its final URL on the call."""
    call = await calls.get_by_sid(session, sid=params["CallSid"], lock=True)
    if call is not None and params.get("RecordingStatus") == "completed":
        call.recording_sid = params.get("RecordingSid") or call.recording_sid
        call.recording_url = params.get("RecordingUrl") or call.recording_url


async def call_status(session: AsyncSession, *, params: dict[str, str]) -> list[Hangup]:
    """A status callback for a caller's call. Returns agent legs to end.

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
        return []
    status = calls.parse_status(params.get("CallStatus", ""))
    if status is None:
        return []
    call = await calls.get_by_sid(session, sid=params["CallSid"], lock=True)
    made_here = call is None
    if call is None:
        raw_caller = params.get("From", "")
        call, made_here = await calls.start_call(
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
        return []
    task = await tasks.voice_task(session, call_id=call.id)
    if task is not None and call.connected_at is None and call.outcome == Outcome.left_in_ivr:
        call.outcome = Outcome.abandoned  # they hung up waiting in line, not in the menu
    hangups = await offers.withdraw(session, call=call, reason="abandoned")
    log.info("telephony.call.ended", extra={"call_sid": call.sid, "outcome": call.outcome})
    await landing.land_on_ticket(session, call=call)
    return hangups

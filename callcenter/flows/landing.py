"""Putting a finished call on its customer's ticket, with what the agent will want to see."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.accounts import service as accounts
from callcenter.customers import service as customers
from callcenter.flows import call_time
from callcenter.routing import queues, tasks
from callcenter.routing.models import Task
from callcenter.telephony.models import Call, CallDirection, Outcome
from callcenter.tickets import service as tickets
from callcenter.tickets.models import Channel, TicketEventKind, TicketPriority


async def land_on_ticket(session: AsyncSession, *, call: Call, force: bool = False) -> None:
    """Put a finished call on its customer's open ticket, or a new one. Blocked calls don't.

    A call lands once Twilio has told us everything about it: its final status, the
    QueueResult of its Enqueue (the real wait) and, if an agent took it, the end of the
    agent's leg (the real talk time). These webhooks race; whichever comes last lands the
    call. `force` lands what we have, for the worker when one of them never came.
    """
    if call.outcome == Outcome.blocked or not call.status.is_final:
        return
    task = await tasks.voice_task(session, call_id=call.id)
    if not force and task is not None:
        if task.twilio_queue_sid is not None and task.queue_result is None:
            return
        if await tasks.accepted_reservation(session, task_id=task.id) is not None:
            return
    if call.customer_id is None:
        call.customer_id = (await customers.create_anonymous(session)).id
    agent = await accounts.get(session, user_id=call.agent_user_id) if call.agent_user_id else None
    queue = None
    if task is not None and task.queue_id is not None:
        queue = await queues.get_queue(session, queue_id=task.queue_id)
    voicemail = call.outcome == Outcome.voicemail
    priority = (task.attributes or {}).get("ticket_priority") if task else None
    outbound = call.direction == CallDirection.outbound
    # A call made from a ticket (click-to-call) lands on that ticket.
    ticket_id = await tasks.ticket_dialled_from(session, call_sid=call.sid) if outbound else None
    await tickets.add_contact(
        session,
        customer_id=call.customer_id,
        channel=Channel.phone,
        kind=TicketEventKind.voicemail if voicemail else TicketEventKind.call,
        subject=(
            f"Call to {call.to_number}" if outbound
            else f"{'Voicemail' if voicemail else 'Call'} from {call.from_number}"
        ),
        ticket_id=ticket_id,
        body=summary(call, queue.name if queue else None, task, agent.email if agent else None),
        call_id=call.id,
        priority=TicketPriority(priority) if priority else None,
        # An agent who took the call answered the customer: the SLA's reply.
        answered_at=(call.connected_at or call.ended_at) if agent is not None else None,
        data={
            "call_sid": call.sid,
            "direction": call.direction.value,
            "agent": agent.email if agent else None,
            "outcome": call.outcome,
            "queue": queue.name if queue else None,
            "priority": task.priority if task else None,
            "wait_seconds": task.wait_seconds if task else None,
            "talk_seconds": call.talk_seconds,
            "recording_url": call.recording_url,
        },
    )
    await call_time.record(session, call=call)


def summary(call: Call, queue: str | None, task: Task | None, agent_email: str | None) -> str:
    """One line for the ticket's timeline: where the call went and how it ended."""
    outbound = call.direction == CallDirection.outbound
    parts = [
        f"Outbound call to {call.to_number}" if outbound
        else f"Inbound call from {call.from_number}"
    ]
    if queue:
        parts.append(f"queue {queue}")
    if task is not None and task.wait_seconds is not None:
        parts.append(f"waited {task.wait_seconds} s")
    if agent_email:
        parts.append(f"answered by {agent_email}, talked {call.talk_seconds or 0} s")
    else:
        parts.append(str(call.outcome or "ended").replace("-", " "))
    return ", ".join(parts) + "."

"""Putting a finished call on its customer's ticket, with what the agent will want to see."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.accounts import service as accounts
from callcenter.customers import service as customers
from callcenter.flows import LEAVING
from callcenter.routing import service as routing
from callcenter.routing.models import ReservationStatus
from callcenter.telephony.models import Call, Outcome
from callcenter.tickets import service as tickets
from callcenter.tickets.models import Channel, TicketEventKind


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
        if call.enqueued_at is not None and call.queue_result in (None, LEAVING):
            return
        reservation = await routing.open_reservation(session, call_id=call.id)
        if reservation is not None and reservation.status == ReservationStatus.accepted:
            return
    if call.customer_id is None:
        call.customer_id = (await customers.create_anonymous(session)).id
    agent = await accounts.get(session, user_id=call.agent_user_id) if call.agent_user_id else None
    voicemail = call.outcome == Outcome.voicemail
    await tickets.add_contact(
        session,
        customer_id=call.customer_id,
        channel=Channel.phone,
        kind=TicketEventKind.voicemail if voicemail else TicketEventKind.call,
        subject=f"{'Voicemail' if voicemail else 'Call'} from {call.from_number}",
        body=summary(call, agent.email if agent else None),
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


def summary(call: Call, agent_email: str | None) -> str:
    """One line for the ticket's timeline: where the call went and how it ended."""
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

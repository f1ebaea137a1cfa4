"""What an agent is working on, as their softphone page shows it, and what they do to it:
the call ringing, talked through or wrapped up with its caller, customer and tickets, the
caller put on hold and taken off it, and the wrap-up saved onto the ticket.

The offer card is read from the store while the phone rings, so it shows the same whether
the page was open when the offer came or was reloaded since.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.accounts import service as accounts
from callcenter.customers import phones
from callcenter.customers import service as customers
from callcenter.db import transaction
from callcenter.flows import Telephony, landing, offers
from callcenter.routing import agents, dispositions, queues, tasks
from callcenter.routing.models import Agent, Reservation, ReservationStatus, Task, TaskChannel
from callcenter.telephony import service as calls
from callcenter.telephony.gateway import GatewayError
from callcenter.telephony.models import Call
from callcenter.tickets import service as tickets
from callcenter.tickets.models import Ticket, TicketStatus

log = logging.getLogger("callcenter.flows")

LAST_FIVE = 5


class WorkError(Exception):
    """What the agent asked cannot be done now; `status` is the HTTP status to answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class TicketLine:
    """A ticket as the offer card lists it."""

    id: int
    subject: str
    status: str
    channel: str
    updated_at: dt.datetime

    @property
    def url(self) -> str:
        return f"/tickets/{self.id}"

    @classmethod
    def of(cls, ticket: Ticket) -> TicketLine:
        return cls(ticket.id, ticket.subject, ticket.status.value, ticket.channel.value,
                   ticket.updated_at)


@dataclass(frozen=True)
class Work:
    """The call in front of the agent: ringing, talking (on hold or not) or wrapping up."""

    reservation_id: int
    stage: str  # "ringing", "talking" or "wrap-up"
    kind: str  # "inbound" or "callback"
    number: str
    withheld: bool
    queue: str | None
    customer_id: int | None
    customer_name: str
    ticket: TicketLine | None
    last_five: list[TicketLine] = field(default_factory=list)
    agent_call_sid: str | None = None
    ring_until: dt.datetime | None = None
    answered_at: dt.datetime | None = None
    held_since: dt.datetime | None = None
    disposition: str | None = None
    # A warm transfer under way: the colleague consulted, and whether they have answered.
    consulting: str | None = None
    consult_answered: bool = False


async def current(session: AsyncSession, tel: Telephony, *, agent: Agent) -> Work | None:
    """The agent's ringing or answered offer, else the call they are wrapping up."""
    offers = await tasks.open_offers_of(session, agent_id=agent.id)
    reservation = offers[0] if offers else await tasks.wrapping_for(session, agent_id=agent.id)
    if reservation is None:
        return None
    task = await tasks.get_task(session, task_id=reservation.task_id)
    assert task is not None
    call = await calls.get(session, call_id=task.call_id) if task.call_id else None
    return await _describe(session, tel, reservation, task, call)


async def _describe(
    session: AsyncSession, tel: Telephony, reservation: Reservation, task: Task, call: Call | None
) -> Work:
    ticket = await _ticket_of(session, call)
    customer_id = call.customer_id if call is not None else None
    customer = await customers.get(session, customer_id=customer_id) if customer_id else None
    last_five = []
    if customer_id is not None:
        recent = await tickets.recent_for(
            session, customer_id=customer_id, besides=ticket.id if ticket else None,
            limit=LAST_FIVE,
        )
        last_five = [TicketLine.of(t) for t in recent]
    queue = await queues.get_queue(session, queue_id=task.queue_id) if task.queue_id else None
    number = (task.attributes or {}).get("number") or (call.from_number if call else "")
    if reservation.status == ReservationStatus.pending:
        stage = "ringing"
    elif reservation.status == ReservationStatus.accepted:
        stage = "talking"
    else:
        stage = "wrap-up"
    consulting, consult_answered = (
        await _consultation(session, task) if stage == "talking" else (None, False)
    )
    return Work(
        reservation_id=reservation.id,
        stage=stage,
        kind=(
            "callback" if task.channel == TaskChannel.callback
            else "transfer" if (task.attributes or {}).get("transferred_from")
            else "inbound"
        ),
        number=number,
        withheld=phones.to_e164(number) is None,
        queue=queue.name if queue else None,
        customer_id=customer_id,
        customer_name=customer.name if customer else "",
        ticket=TicketLine.of(ticket) if ticket else None,
        last_five=last_five,
        agent_call_sid=reservation.agent_call_sid,
        ring_until=(
            reservation.created_at + dt.timedelta(seconds=tel.agent_ring_seconds)
            if stage == "ringing" else None
        ),
        answered_at=reservation.answered_at,
        held_since=reservation.held_at if stage == "talking" else None,
        disposition=call.disposition if call else None,
        consulting=consulting,
        consult_answered=consult_answered,
    )


async def _consultation(session: AsyncSession, task: Task) -> tuple[str | None, bool]:
    """Whom the agent is consulting about this call (a warm transfer), and whether they
    answered; (None, False) when nobody."""
    moved_id = (task.attributes or {}).get("transfer_task")
    moved = await tasks.get_task(session, task_id=moved_id) if moved_id else None
    if moved is None or not moved.status.is_open:
        return None, False
    attributes = moved.attributes or {}
    if not attributes.get("consult") or attributes.get("consult_canceled"):
        return None, False
    offered = await tasks.open_reservations(session, task_id=moved.id)
    if not offered:
        return None, False
    colleague = await session.get(Agent, offered[0].agent_id)
    user = await accounts.get(session, user_id=colleague.user_id) if colleague else None
    name = (user.name or user.email) if user else "a colleague"
    return name, offered[0].status == ReservationStatus.accepted


async def _ticket_of(session: AsyncSession, call: Call | None) -> Ticket | None:
    """The ticket the call landed on, or (before it lands) the one it will land on: the
    customer's open ticket."""
    if call is None:
        return None
    landed = await tickets.event_for_call(session, call_id=call.id)
    if landed is not None:
        return await tickets.get_ticket(session, ticket_id=landed.ticket_id)
    if call.customer_id is None:
        return None
    return await tickets.find_open_ticket(session, customer_id=call.customer_id)


def changed(session: AsyncSession, agent_id: int) -> None:
    """The agent's page re-reads their work (it hears `routing.agent.*` for them)."""
    agents.work_changed(session, agent_id=agent_id)


# --- hold ----------------------------------------------------------------------------------


async def hold(tel: Telephony, *, agent_id: int, on: bool) -> Work | None:
    """Put the caller on hold (they hear the hold music) or take them off it; the agent's
    work as it is then.

    The caller sits in the conference named after their call, so this is one change to
    their participant there. The store says "on hold" first; if Twilio refuses, that is
    undone and the agent told why."""
    async with transaction(tel.sessionmaker) as session:
        reservation, call = await talking(session, agent_id=agent_id)
        if (reservation.held_at is not None) == on:
            return await current(session, tel, agent=await _agent(session, agent_id))
        tasks.set_hold(reservation, on=on)
        caller = call.sid
        changed(session, agent_id)
    try:
        await offers.set_caller_hold(tel, caller, on)
    except GatewayError as error:
        async with transaction(tel.sessionmaker) as session:
            reservation = await tasks.get_reservation(session, reservation_id=reservation.id)
            if reservation is not None:
                tasks.set_hold(reservation, on=not on)
                changed(session, agent_id)
        raise WorkError(502, "twilio_failed", f"Twilio did not change the hold: {error}") from None
    return await read(tel, agent_id=agent_id)


async def read(tel: Telephony, *, agent_id: int) -> Work | None:
    """The agent's work read afresh (a request's own snapshot may predate a change made
    in a transaction of the flow's)."""
    async with transaction(tel.sessionmaker) as session:
        return await current(session, tel, agent=await _agent(session, agent_id))


async def _agent(session: AsyncSession, agent_id: int) -> Agent:
    agent = await session.get(Agent, agent_id)
    assert agent is not None
    return agent


async def talking(session: AsyncSession, *, agent_id: int) -> tuple[Reservation, Call]:
    """The agent's answered call whose caller is with them (locked), or a 409."""
    for reservation in await tasks.open_offers_of(session, agent_id=agent_id):
        if reservation.status != ReservationStatus.accepted:
            continue
        task = await tasks.get_task(session, task_id=reservation.task_id)
        assert task is not None
        call = await calls.get(session, call_id=task.call_id, lock=True) if task.call_id else None
        if task.channel == TaskChannel.voice and call is not None and call.connected_at:
            await session.refresh(reservation, with_for_update=True)
            return reservation, call
    raise WorkError(409, "not_on_a_call", "You are not talking to a caller right now.")


async def hang_up(tel: Telephony, *, agent_id: int) -> Work | None:
    """End the agent's side of their answered call from the server (a page reloaded in the
    middle of a call has no SDK `Call` to disconnect); the caller's leg follows, as when
    the agent hangs up their phone."""
    async with transaction(tel.sessionmaker) as session:
        answered = [
            r for r in await tasks.open_offers_of(session, agent_id=agent_id)
            if r.status == ReservationStatus.accepted and r.agent_call_sid
        ]
    if not answered:
        raise WorkError(409, "not_on_a_call", "You are not on a call.")
    try:
        await tel.gateway.end_call(call_sid=answered[0].agent_call_sid or "", ringing=False)
    except GatewayError as error:
        raise WorkError(502, "twilio_failed", f"Twilio did not end the call: {error}") from None
    return await read(tel, agent_id=agent_id)


# --- wrap-up -------------------------------------------------------------------------------


@dataclass(frozen=True)
class WrapUp:
    notes: str
    disposition_id: int | None
    ticket_status: TicketStatus | None


async def save_wrapup(
    session: AsyncSession, *, agent: Agent, reservation_id: int, author_id: int, wrapup: WrapUp
) -> Ticket:
    """The agent's notes, disposition and the ticket's new status onto the ticket the call
    landed on: a note on its timeline (and a field change for the status), the disposition
    on the call. Only for a call this agent talked to."""
    reservation = await tasks.get_reservation(session, reservation_id=reservation_id)
    if reservation is None or reservation.agent_id != agent.id or reservation.status not in (
        ReservationStatus.accepted, ReservationStatus.completed,
    ):
        raise WorkError(404, "not_found", "You have no such call to wrap up.")
    task = await tasks.get_task(session, task_id=reservation.task_id)
    assert task is not None
    call = await calls.get(session, call_id=task.call_id, lock=True) if task.call_id else None
    if call is None:
        raise WorkError(409, "no_call", "This task has no call to wrap up.")
    chosen = None
    if wrapup.disposition_id is not None:
        chosen = await dispositions.get(session, disposition_id=wrapup.disposition_id)
        if chosen is None or not chosen.active:
            raise WorkError(400, "unknown_disposition", "Pick a disposition from the list.")
    if await tickets.event_for_call(session, call_id=call.id) is None:
        # Wrap-up can start before Twilio's last word on the caller's leg: land it now.
        await landing.land_on_ticket(session, call=call, force=True)
    ticket = await _ticket_of(session, call)
    if ticket is None:
        raise WorkError(409, "not_landed", "The call is still ending: save again in a moment.")
    if chosen is not None:
        call.disposition = chosen.name
    if wrapup.notes.strip() or chosen is not None:
        tickets.add_note(
            session, ticket, author_id=author_id, body=wrapup.notes.strip(), call_id=call.id,
            data={"disposition": chosen.name if chosen else None, "call_sid": call.sid,
                  "wrap_up": True},
        )
    if wrapup.ticket_status is not None:
        await tickets.set_status(session, ticket, wrapup.ticket_status, author_id=author_id)
    await session.flush()
    changed(session, agent.id)
    log.info("routing.wrapup.saved", extra={"reservation_id": reservation.id,
                                            "ticket_id": ticket.id})
    return ticket

"""Tickets and their timelines; every channel lands its contacts here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.customers import service as customers
from callcenter.db import utcnow
from callcenter.tickets.models import (
    Channel,
    Ticket,
    TicketEvent,
    TicketEventKind,
    TicketPriority,
    TicketStatus,
)

OPEN_STATUSES = [status for status in TicketStatus if status.is_open]


async def find_open_ticket(session: AsyncSession, *, customer_id: int) -> Ticket | None:
    """The customer's most recently updated ticket that is not solved or closed."""
    return await session.scalar(
        select(Ticket)
        .where(Ticket.requester_id == customer_id, Ticket.status.in_(OPEN_STATUSES))
        .order_by(Ticket.updated_at.desc(), Ticket.id.desc())
        .limit(1)
    )


async def event_for_call(session: AsyncSession, *, call_id: int) -> TicketEvent | None:
    return await session.scalar(select(TicketEvent).where(TicketEvent.call_id == call_id))


async def add_contact(
    session: AsyncSession,
    *,
    customer_id: int,
    channel: Channel,
    kind: TicketEventKind,
    subject: str,
    body: str,
    call_id: int | None = None,
    data: dict[str, Any] | None = None,
    priority: TicketPriority | None = None,
    ticket_id: int | None = None,
) -> TicketEvent:
    """Put a contact on the customer's open ticket, or open a new ticket for it.

    A contact on an existing ticket reopens a pending one, because the customer is waiting
    on us again. A call lands at most once (the call id is unique on the timeline).
    `priority` raises the ticket's priority to at least that (an urgent caller's ticket is
    urgent), never lowers it. `ticket_id` names the ticket outright (a call made from it).
    """
    await customers.lock(session, customer_id=customer_id)
    if call_id is not None and (existing := await event_for_call(session, call_id=call_id)):
        return existing
    ticket = await get_ticket(session, ticket_id=ticket_id) if ticket_id is not None else None
    if ticket is None:
        ticket = await find_open_ticket(session, customer_id=customer_id)
    if ticket is None:
        ticket = Ticket(
            subject=subject, channel=channel, requester_id=customer_id,
            priority=TicketPriority.normal,
        )
        session.add(ticket)
        await session.flush()
    elif ticket.status == TicketStatus.pending:
        ticket.status = TicketStatus.open
    if priority is not None and _RANK[priority] > _RANK[ticket.priority]:
        ticket.priority = priority
    now = utcnow()
    event = TicketEvent(
        ticket_id=ticket.id, kind=kind, body=body, call_id=call_id, data=data or {}, created_at=now
    )
    session.add(event)
    ticket.updated_at = now
    await session.flush()
    return event


_RANK = {priority: rank for rank, priority in enumerate(TicketPriority)}


async def get_ticket(session: AsyncSession, *, ticket_id: int) -> Ticket | None:
    return await session.get(Ticket, ticket_id)


async def recent_for(
    session: AsyncSession, *, customer_id: int, besides: int | None = None, limit: int = 5
) -> list[Ticket]:
    """The customer's latest tickets by last update, whatever their status or channel,
    without `besides` (the one in front of the agent): the "last five tickets"."""
    query = select(Ticket).where(Ticket.requester_id == customer_id)
    if besides is not None:
        query = query.where(Ticket.id != besides)
    query = query.order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(limit)
    return list(await session.scalars(query))


async def customer_timeline(
    session: AsyncSession, *, customer_id: int, before_id: int | None = None, limit: int = 50
) -> list[TicketEvent]:
    """The customer's history across all their tickets and channels, newest first, a page at
    a time (`before_id`: the oldest event of the page before). After a merge it is both
    customers' history, because a merge gives the survivor the other's tickets."""
    query = (
        select(TicketEvent)
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .where(Ticket.requester_id == customer_id)
    )
    if before_id is not None:
        query = query.where(TicketEvent.id < before_id)
    return list(await session.scalars(query.order_by(TicketEvent.id.desc()).limit(limit)))


async def timeline(session: AsyncSession, *, ticket_id: int) -> list[TicketEvent]:
    return list(await session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
    ))


def add_note(
    session: AsyncSession,
    ticket: Ticket,
    *,
    author_id: int,
    body: str,
    call_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> TicketEvent:
    """An agent's internal note on the ticket's timeline (a call's wrap-up notes and
    disposition among them). `call_id` is not set: a call's own entry holds that link."""
    now = utcnow()
    event = TicketEvent(
        ticket_id=ticket.id, kind=TicketEventKind.note, author_id=author_id, body=body,
        data={**(data or {}), **({"call_id": call_id} if call_id is not None else {})},
        created_at=now,
    )
    session.add(event)
    ticket.updated_at = now
    return event


def set_status(
    session: AsyncSession, ticket: Ticket, status: TicketStatus, *, author_id: int
) -> TicketEvent | None:
    """Change the ticket's status with a field change on its timeline (who, from, to);
    None when it already has that status."""
    if ticket.status == status:
        return None
    now = utcnow()
    event = TicketEvent(
        ticket_id=ticket.id, kind=TicketEventKind.field_change, author_id=author_id,
        body=f"Status changed from {ticket.status.value} to {status.value}.",
        data={"field": "status", "from": ticket.status.value, "to": status.value},
        created_at=now,
    )
    session.add(event)
    ticket.status = status
    ticket.updated_at = now
    ticket.solved_at = now if status in (TicketStatus.solved, TicketStatus.closed) else None
    return event

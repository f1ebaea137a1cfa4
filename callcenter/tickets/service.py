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
) -> TicketEvent:
    """Put a contact on the customer's open ticket, or open a new ticket for it.

    A contact on an existing ticket reopens a pending one, because the customer is waiting
    on us again. A call lands at most once (the call id is unique on the timeline).
    `priority` raises the ticket's priority to at least that (an urgent caller's ticket is
    urgent), never lowers it.
    """
    await customers.lock(session, customer_id=customer_id)
    if call_id is not None and (existing := await event_for_call(session, call_id=call_id)):
        return existing
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

"""Finding tickets: the agent's views, search, and the API's filtered listing.

Every list is sorted so the most urgent work is on top: priority (urgent first), then the
SLA target that falls due soonest, then the longest waiting. The views are fixed queries
with a count each, cheap enough to show beside every view on every page.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.db import containing, utcnow
from callcenter.tickets.models import Channel, Ticket, TicketEvent, TicketPriority, TicketStatus

OPEN = [status for status in TicketStatus if status.is_open]
# "Breaching soon": an unmet SLA target due within this (or already overdue).
SOON = dt.timedelta(hours=2)
RECENTLY = dt.timedelta(days=7)


class View(enum.StrEnum):
    mine = "mine"
    unassigned = "unassigned"
    urgent = "urgent"
    breaching = "breaching"
    solved = "solved"
    all_open = "all_open"

    @property
    def title(self) -> str:
        return _TITLES[self]


_TITLES = {
    View.mine: "My open tickets", View.unassigned: "Unassigned", View.urgent: "Urgent",
    View.breaching: "SLA breaching soon", View.solved: "Recently solved",
    View.all_open: "All open",
}


@dataclass(frozen=True)
class Filters:
    """What the API and the search box narrow tickets by; all optional."""

    view: View | None = None
    customer_id: int | None = None
    channel: Channel | None = None
    status: TicketStatus | None = None
    text: str = ""
    ticket_id: int | None = None
    customer_ids: tuple[int, ...] = ()


def _urgency():
    rank = case(
        {priority.value: priority.rank for priority in TicketPriority}, value=Ticket.priority
    )
    due_last = case((Ticket.sla_due_at.is_(None), 1), else_=0)
    return (rank.desc(), due_last, Ticket.sla_due_at, Ticket.updated_at, Ticket.id)


def _in_view(query: Select, view: View, *, user_id: int, now: dt.datetime) -> Select:
    if view == View.solved:
        return query.where(Ticket.status == TicketStatus.solved, Ticket.solved_at >= now - RECENTLY)
    query = query.where(Ticket.status.in_(OPEN))
    if view == View.mine:
        return query.where(Ticket.assignee_id == user_id)
    if view == View.unassigned:
        return query.where(Ticket.assignee_id.is_(None))
    if view == View.urgent:
        return query.where(Ticket.priority == TicketPriority.urgent)
    if view == View.breaching:
        return query.where(Ticket.sla_due_at <= now + SOON)
    return query


def _filtered(filters: Filters, *, user_id: int, now: dt.datetime) -> Select:
    query = select(Ticket).where(Ticket.merged_into_id.is_(None))
    if filters.view is not None:
        query = _in_view(query, filters.view, user_id=user_id, now=now)
    if filters.customer_id is not None:
        query = query.where(Ticket.requester_id == filters.customer_id)
    if filters.channel is not None:
        query = query.where(Ticket.channel == filters.channel)
    if filters.status is not None:
        query = query.where(Ticket.status == filters.status)
    matches = []
    if filters.ticket_id is not None:
        matches.append(Ticket.id == filters.ticket_id)
    if filters.customer_ids:
        matches.append(Ticket.requester_id.in_(filters.customer_ids))
    if filters.text.strip():
        words = filters.text.strip()
        in_timeline = select(TicketEvent.ticket_id).where(containing(TicketEvent.body, words))
        matches += [containing(Ticket.subject, words), Ticket.id.in_(in_timeline)]
    if matches:
        query = query.where(or_(*matches))
    return query


async def find(
    session: AsyncSession, filters: Filters, *, user_id: int, offset: int = 0, limit: int = 50
) -> tuple[list[Ticket], int]:
    """A page of the tickets `filters` select, most urgent first, and how many in all."""
    query = _filtered(filters, user_id=user_id, now=utcnow())
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order = (Ticket.solved_at.desc(), Ticket.id.desc()) if filters.view == View.solved else (
        _urgency()
    )
    rows = await session.scalars(query.order_by(*order).offset(offset).limit(limit))
    return list(rows), total


async def counts(session: AsyncSession, *, user_id: int) -> dict[View, int]:
    """How many tickets each view holds, in one statement."""
    now = utcnow()
    columns = [
        select(func.count()).select_from(
            _in_view(select(Ticket.id).where(Ticket.merged_into_id.is_(None)), view,
                     user_id=user_id, now=now).subquery()
        ).scalar_subquery().label(view.value)
        for view in View
    ]
    row = (await session.execute(select(*columns))).one()
    return {view: row[index] or 0 for index, view in enumerate(View)}

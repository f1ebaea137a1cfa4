"""Tickets and their timelines; every channel lands its contacts here."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy import update as sa_update
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter import events
from callcenter.customers import service as customers
from callcenter.db import utcnow
from callcenter.tickets import actions, sla, timing, triggers
from callcenter.tickets.models import (
    Channel,
    DeskSettings,
    Ticket,
    TicketEvent,
    TicketEventKind,
    TicketGroup,
    TicketPriority,
    TicketStatus,
)

OPEN_STATUSES = [status for status in TicketStatus if status.is_open]


async def desk_settings(session: AsyncSession) -> DeskSettings:
    """The desk's settings row (made with its defaults if an admin removed it)."""
    found = await session.get(DeskSettings, 1)
    if found is None:
        found = DeskSettings(id=1, thread_window_hours=168)
        session.add(found)
        await session.flush()
    return found


async def find_open_ticket(
    session: AsyncSession, *, customer_id: int, since: dt.datetime | None = None
) -> Ticket | None:
    """The customer's most recently updated ticket that is not solved or closed (and was
    updated after `since`, when given)."""
    query = select(Ticket).where(
        Ticket.requester_id == customer_id, Ticket.status.in_(OPEN_STATUSES)
    )
    if since is not None:
        query = query.where(Ticket.updated_at >= since)
    return await session.scalar(query.order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(1))


async def event_for_call(session: AsyncSession, *, call_id: int) -> TicketEvent | None:
    return await session.scalar(select(TicketEvent).where(TicketEvent.call_id == call_id))


async def event_for_message(
    session: AsyncSession, *, kind: TicketEventKind, external_id: str
) -> TicketEvent | None:
    """The event a message with this channel id already made, if it did."""
    return await session.scalar(
        select(TicketEvent).where(TicketEvent.kind == kind, TicketEvent.external_id == external_id)
    )


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
    answered_at: dt.datetime | None = None,
    author_id: int | None = None,
    external_id: str | None = None,
    group_id: int | None = None,
) -> TicketEvent:
    """Put a contact on the customer's open ticket, or open a new ticket for it.

    It joins the open ticket updated within the desk's thread window; otherwise a new
    ticket opens. A contact on an existing ticket reopens a pending or on-hold one,
    because the customer is waiting on us again, and starts the next-reply clock. A call
    lands at most once (the call id is unique on the timeline). `priority` raises the
    ticket's priority to at least that (an urgent caller's ticket is urgent), never lowers
    it. `ticket_id` names the ticket outright (a call made from it). `answered_at`: an
    agent answered the customer in this contact (a call they took), which is a reply.
    `external_id`: the channel's own id of the message; one already on a timeline is not
    added again (the sender retried). `group_id`: the group a new ticket goes to (mail to
    a group's address). Triggers run on the ticket afterwards.
    """
    await customers.lock(session, customer_id=customer_id)
    if call_id is not None and (existing := await event_for_call(session, call_id=call_id)):
        return existing
    if external_id is not None and (
        existing := await event_for_message(session, kind=kind, external_id=external_id)
    ):
        return existing
    now = utcnow()
    ticket = await get_ticket(session, ticket_id=ticket_id) if ticket_id is not None else None
    if ticket is None:
        window = (await desk_settings(session)).thread_window_hours
        since = now - dt.timedelta(hours=window) if window else None
        ticket = await find_open_ticket(session, customer_id=customer_id, since=since)
    created = ticket is None
    if ticket is None:
        ticket = Ticket(
            subject=subject[:300], channel=channel, requester_id=customer_id,
            priority=TicketPriority.normal, status=TicketStatus.new, tags=[], created_at=now,
            updated_at=now, group_id=group_id,
        )
        session.add(ticket)
        await session.flush()
    elif ticket.status in (TicketStatus.pending, TicketStatus.on_hold):
        ticket.status = TicketStatus.open
    if priority is not None and priority.rank > ticket.priority.rank:
        ticket.priority = priority
    policy = await sla.policy_for(session, priority=ticket.priority)
    sla.customer_waiting(ticket, policy, at=now)
    if answered_at is not None:
        sla.replied(ticket, policy, at=answered_at)
    event = TicketEvent(
        ticket_id=ticket.id, kind=kind, body=body, call_id=call_id, data=data or {},
        created_at=now, author_id=author_id, external_id=external_id,
    )
    session.add(event)
    ticket.updated_at = now
    await session.flush()
    await triggers.run(session, ticket, triggers.Change(created=created, text=body, at=now))
    if created:
        events.record(session, "tickets.ticket.created", ticket_id=ticket.id)
    events.record(session, "tickets.event.added", ticket_id=ticket.id, event_id=event.id)
    return event


async def create_ticket(
    session: AsyncSession,
    *,
    requester_id: int,
    subject: str,
    body: str,
    channel: Channel,
    author_id: int | None,
    tags: list[str] | None = None,
) -> Ticket:
    """A ticket an agent opens for a customer (or a system opens through the API); its
    body is the request, in the customer's words, first on the timeline."""
    await customers.lock(session, customer_id=requester_id)
    now = utcnow()
    ticket = Ticket(
        subject=subject[:300], channel=channel, requester_id=requester_id,
        priority=TicketPriority.normal, status=TicketStatus.new,
        tags=list(actions.clean_tags(tags or [])), created_at=now, updated_at=now,
    )
    session.add(ticket)
    await session.flush()
    sla.customer_waiting(ticket, await sla.policy_for(session, priority=ticket.priority), at=now)
    event = TicketEvent(
        ticket_id=ticket.id, kind=TicketEventKind.web, body=body, author_id=author_id,
        created_at=now,
    )
    session.add(event)
    await session.flush()
    await triggers.run(session, ticket, triggers.Change(created=True, text=body, at=now))
    events.record(session, "tickets.ticket.created", ticket_id=ticket.id)
    return ticket


async def get_ticket(
    session: AsyncSession, *, ticket_id: int, lock: bool = False
) -> Ticket | None:
    """The ticket; `lock` holds its row until commit, so two agents' changes take turns."""
    return await session.get(Ticket, ticket_id, with_for_update=lock or None)


async def get_event(session: AsyncSession, *, event_id: int) -> TicketEvent | None:
    return await session.get(TicketEvent, event_id)


async def get_group(session: AsyncSession, *, group_id: int) -> TicketGroup | None:
    return await session.get(TicketGroup, group_id)


async def list_groups(session: AsyncSession) -> list[TicketGroup]:
    return list(await session.scalars(select(TicketGroup).order_by(TicketGroup.name)))


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
    author_id: int | None,
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
    events.record(session, "tickets.ticket.updated", ticket_id=ticket.id)
    return event


async def add_reply(
    session: AsyncSession,
    ticket: Ticket,
    *,
    author_id: int,
    kind: TicketEventKind,
    body: str,
    data: dict[str, Any] | None = None,
    external_id: str | None = None,
) -> TicketEvent:
    """An agent's reply to the customer on a channel (the channel sends it once this
    commits): the SLA's reply clocks are met, and a new ticket is open from now on."""
    now = utcnow()
    event = TicketEvent(
        ticket_id=ticket.id, kind=kind, author_id=author_id, body=body, data=data or {},
        external_id=external_id, created_at=now,
    )
    session.add(event)
    if ticket.status == TicketStatus.new:
        ticket.status = TicketStatus.open
    sla.replied(ticket, await sla.policy_for(session, priority=ticket.priority), at=now)
    ticket.updated_at = now
    await session.flush()
    events.record(session, "tickets.event.added", ticket_id=ticket.id, event_id=event.id)
    return event


async def set_event_data(
    session: AsyncSession, *, event_id: int, changes: dict[str, Any]
) -> None:
    """Note what became of an entry (a reply's delivery) on it; the ticket page shows it."""
    event = await get_event(session, event_id=event_id)
    if event is None:
        return
    event.data = {**(event.data or {}), **changes}
    ticket = await get_ticket(session, ticket_id=event.ticket_id)
    if ticket is not None:
        ticket.updated_at = utcnow()  # the ticket's version: open pages re-read it
    events.record(session, "tickets.ticket.updated", ticket_id=event.ticket_id)


async def set_external_id(session: AsyncSession, *, event_id: int, external_id: str) -> None:
    """The channel's id of a message we sent, known once the channel took it."""
    event = await get_event(session, event_id=event_id)
    if event is not None:
        event.external_id = external_id


async def update(
    session: AsyncSession, ticket: Ticket, changes: actions.Changes, *, author_id: int | None,
    via: str = "", text: str = "",
) -> list[TicketEvent]:
    """Change the ticket's fields (each change on its timeline), then run the update
    triggers on it. `text`: a note or reply made with the change, for the triggers."""
    made = await actions.change(session, ticket, changes, author_id=author_id, via=via)
    if author_id is not None:
        # The agent's timer on the ticket: its time since their last update is recorded.
        await timing.record_update(session, ticket_id=ticket.id, user_id=author_id, now=utcnow())
    if made or text:
        await triggers.run(
            session, ticket, triggers.Change(created=False, text=text, at=utcnow())
        )
        events.record(session, "tickets.ticket.updated", ticket_id=ticket.id)
    return made


async def set_status(
    session: AsyncSession, ticket: Ticket, status: TicketStatus, *, author_id: int
) -> list[TicketEvent]:
    """Change the ticket's status with a field change on its timeline (who, from, to)."""
    return await update(session, ticket, actions.Changes(status=status), author_id=author_id)


class TicketError(ValueError):
    """A change to tickets that cannot be made, and why."""


async def move_event(
    session: AsyncSession, *, event: TicketEvent, to: Ticket, actor_id: int
) -> TicketEvent:
    """Move one timeline entry (a call, a message) to the ticket it belongs on; both
    timelines say so. The entry keeps its time and its link to the call or message."""
    source = await get_ticket(session, ticket_id=event.ticket_id)
    assert source is not None
    if source.id == to.id:
        raise TicketError("it is already on that ticket")
    if to.merged_into_id is not None:
        raise TicketError(f"#{to.id} was merged into #{to.merged_into_id}: move it there")
    event.ticket_id = to.id
    event.data = {**(event.data or {}), "moved_from": source.id}
    for ticket, text in ((source, f"Moved a {event.kind.value} entry to #{to.id}."),
                         (to, f"Moved a {event.kind.value} entry here from #{source.id}.")):
        add_note(session, ticket, author_id=actor_id, body=text,
                 data={"moved_event": event.id})
    await session.flush()
    events.record(session, "tickets.ticket.updated", ticket_id=source.id)
    events.record(session, "tickets.ticket.updated", ticket_id=to.id)
    return event


async def merge_tickets(
    session: AsyncSession, *, source: Ticket, target: Ticket, actor_id: int
) -> None:
    """Put everything on `source` onto `target` and close `source`, pointing at it.

    Every event and time entry moves (in order: ids keep their order), time on the
    merged ticket's timers is recorded, tags are combined, the higher priority wins; both
    timelines record the merge.
    """
    if source.id == target.id:
        raise TicketError("a ticket cannot be merged into itself")
    for ticket in (source, target):
        if ticket.merged_into_id is not None:
            raise TicketError(f"#{ticket.id} was already merged into #{ticket.merged_into_id}")
    await session.execute(
        sa_update(TicketEvent).where(TicketEvent.ticket_id == source.id)
        .values(ticket_id=target.id)
    )
    await timing.move_to(session, from_ticket=source.id, to_ticket=target.id, now=utcnow())
    await actions.change(session, target, actions.Changes(
        tags=actions.clean_tags([*(target.tags or []), *(source.tags or [])]),
        priority=source.priority if source.priority.rank > target.priority.rank else None,
    ), author_id=actor_id, via=f"merge of #{source.id}")
    add_note(session, target, author_id=actor_id, body=f"Ticket #{source.id} merged into this one.",
             data={"merged_from": source.id})
    await actions.change(session, source, actions.Changes(status=TicketStatus.closed),
                         author_id=actor_id, via=f"merged into #{target.id}")
    source.merged_into_id = target.id
    add_note(session, source, author_id=actor_id, body=f"Merged into #{target.id}.",
             data={"merged_into": target.id})
    await session.flush()
    events.record(session, "tickets.ticket.updated", ticket_id=source.id)
    events.record(session, "tickets.ticket.updated", ticket_id=target.id)


async def reassign_requester(session: AsyncSession, *, from_id: int, to_id: int) -> int:
    """Tickets of a customer merged into another become the survivor's (their Last Five
    and history then include them); how many moved."""
    moved = await session.execute(
        sa_update(Ticket).where(Ticket.requester_id == from_id).values(requester_id=to_id)
    )
    return moved.rowcount or 0

"""SLA due times in business hours, breaches, and triggers on new and updated tickets."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.customers import service as customers
from callcenter.tickets import actions, sla
from callcenter.tickets import service as tickets
from callcenter.tickets.models import (
    Channel,
    Ticket,
    TicketEventKind,
    TicketPriority,
    TicketStatus,
    Trigger,
)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


async def _policy(session: AsyncSession, priority: TicketPriority):
    policy = await sla.policy_for(session, priority=priority)
    assert policy is not None, "the migration ships a policy per priority"
    return policy


async def test_urgent_first_reply_across_the_weekend(db_session: AsyncSession) -> None:
    """Shipped policy: urgent first reply in 30 business minutes, mon-fri 09:00-17:00 UTC."""
    policy = await _policy(db_session, TicketPriority.urgent)
    ticket = Ticket(subject="x", channel=Channel.phone, requester_id=1, tags=[],
                    priority=TicketPriority.urgent, status=TicketStatus.new,
                    created_at=utc("2026-12-04 16:50"))  # a Friday
    sla.customer_waiting(ticket, policy, at=ticket.created_at)
    assert ticket.first_reply_due_at == utc("2026-12-07 09:20")
    assert ticket.sla_due_at == utc("2026-12-07 09:20")
    assert not sla.breached(ticket, now=utc("2026-12-07 09:19"))
    assert sla.breached(ticket, now=utc("2026-12-07 09:21"))

    # Answered on Monday at 09:10: met, and no longer breaching later.
    sla.replied(ticket, policy, at=utc("2026-12-07 09:10"))
    first = next(t for t in sla.targets(ticket, now=utc("2026-12-08 12:00"))
                 if t.name == "first_reply")
    assert first.met_at == utc("2026-12-07 09:10") and not first.breached
    assert ticket.sla_due_at == ticket.resolution_due_at  # the next thing owed

    # The customer writes again on Monday at 16:30: next reply within 60 business minutes.
    sla.customer_waiting(ticket, policy, at=utc("2026-12-07 16:30"))
    assert ticket.next_reply_due_at == utc("2026-12-08 09:30")
    # Resolution (8 business hours from Friday 16:50) falls due before it.
    assert ticket.resolution_due_at == utc("2026-12-07 16:50")
    assert ticket.sla_due_at == utc("2026-12-07 16:50")


async def test_a_priority_change_recounts_from_the_start(db_session: AsyncSession) -> None:
    ticket = Ticket(subject="x", channel=Channel.email, requester_id=1, tags=[],
                    priority=TicketPriority.normal, status=TicketStatus.new,
                    created_at=utc("2026-12-07 10:00"))
    sla.customer_waiting(ticket, await _policy(db_session, TicketPriority.normal),
                         at=ticket.created_at)
    assert ticket.first_reply_due_at == utc("2026-12-07 14:00")  # 4 business hours
    sla.recount(ticket, await _policy(db_session, TicketPriority.urgent))
    assert ticket.first_reply_due_at == utc("2026-12-07 10:30")


async def _customer(session: AsyncSession, phone: str = "+14155550100") -> int:
    return (await customers.find_or_create_by_phone(session, phone=phone)).id


async def test_the_shipped_trigger_makes_a_shop_down_ticket_urgent(
    db_session: AsyncSession,
) -> None:
    requester = await _customer(db_session)
    ticket = await tickets.create_ticket(
        db_session, requester_id=requester, subject="Help!!",
        body="Our SHOP   is down since this morning", channel=Channel.web, author_id=None,
    )
    assert ticket.priority == TicketPriority.urgent
    assert "outage" in ticket.tags
    timeline = await tickets.timeline(db_session, ticket_id=ticket.id)
    changes = [e for e in timeline if e.kind == TicketEventKind.field_change]
    assert {c.data["field"] for c in changes} == {"priority", "tags"}
    assert all(c.data["via"] == "trigger: Outage: the shop is down" for c in changes)
    # Urgent's targets, not normal's.
    assert ticket.first_reply_due_at == sla.hours_of(
        await _policy(db_session, TicketPriority.urgent)
    ).add(ticket.created_at, 30)

    calm = await tickets.create_ticket(
        db_session, requester_id=await _customer(db_session, "+14155550101"),
        subject="Invoice", body="Where is my invoice?", channel=Channel.web, author_id=None,
    )
    assert calm.priority == TicketPriority.normal


async def test_triggers_with_conditions_on_update(db_session: AsyncSession) -> None:
    db_session.add(Trigger(
        name="VIP phone calls go to Tier 2", position=1, on_create=False, on_update=True,
        conditions={"all": [{"field": "channel", "op": "is", "value": "phone"},
                            {"field": "tags", "op": "includes", "value": "vip"},
                            {"field": "update", "op": "is", "value": "updated"}]},
        actions=[{"set": "group", "value": "Tier 2"}, {"set": "priority", "value": "high"}],
    ))
    requester = await _customer(db_session)
    first = await tickets.add_contact(
        db_session, customer_id=requester, channel=Channel.phone, kind=TicketEventKind.call,
        subject="Call", body="Inbound call",
    )
    ticket = await tickets.get_ticket(db_session, ticket_id=first.ticket_id)
    assert ticket is not None and ticket.group_id is None  # on create: not this trigger
    await tickets.update(db_session, ticket, actions.Changes(tags=("vip",)), author_id=None)
    assert ticket.priority == TicketPriority.high
    group = await actions.group_named(db_session, name="Tier 2")
    assert group is not None and ticket.group_id == group.id


async def test_a_contact_joins_the_open_ticket_only_within_the_window(
    db_session: AsyncSession,
) -> None:
    requester = await _customer(db_session)

    async def contact() -> int:
        event = await tickets.add_contact(
            db_session, customer_id=requester, channel=Channel.phone,
            kind=TicketEventKind.call, subject="Call", body="Inbound call",
        )
        return event.ticket_id

    first = await contact()
    assert await contact() == first
    ticket = await tickets.get_ticket(db_session, ticket_id=first)
    assert ticket is not None
    ticket.updated_at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=169)  # window: 168 h
    await db_session.flush()
    assert await contact() != first

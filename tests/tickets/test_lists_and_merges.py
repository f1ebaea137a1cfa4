"""Views put the most urgent work on top; search finds tickets; moves and merges lose nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from builders import make_user
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.customers import service as customers
from callcenter.db import utcnow
from callcenter.tickets import actions, lists, macros
from callcenter.tickets import service as tickets
from callcenter.tickets.models import Channel, TicketEventKind, TicketPriority, TicketStatus


async def _ticket(session: AsyncSession, phone: str, subject: str, body: str = "") -> int:
    customer = await customers.find_or_create_by_phone(session, phone=phone)
    return (await tickets.create_ticket(
        session, requester_id=customer.id, subject=subject, body=body or subject,
        channel=Channel.web, author_id=None,
    )).id


async def test_views_count_and_sort_the_most_urgent_first(db_session: AsyncSession) -> None:
    agent = await make_user(db_session)
    calm = await _ticket(db_session, "+14155550101", "A question")
    down = await _ticket(db_session, "+14155550102", "Site down", "our site down since 9")
    mine = await _ticket(db_session, "+14155550103", "Mine")
    ticket = await tickets.get_ticket(db_session, ticket_id=mine)
    await tickets.update(db_session, ticket, actions.Changes(assignee_id=agent.id,
                         priority=TicketPriority.high), author_id=agent.id)
    solved = await _ticket(db_session, "+14155550104", "Done")
    await tickets.set_status(db_session, await tickets.get_ticket(db_session, ticket_id=solved),
                             TicketStatus.solved, author_id=agent.id)

    # Due times depend on the clock: fix them so one ticket breaches within the hour.
    for ticket_id, hours in ((calm, 30), (down, 1), (mine, 30)):
        (await tickets.get_ticket(db_session, ticket_id=ticket_id)).sla_due_at = (
            utcnow() + dt.timedelta(hours=hours)
        )
    await db_session.flush()
    found, total = await lists.find(db_session, lists.Filters(view=lists.View.all_open),
                                    user_id=agent.id)
    assert [t.id for t in found] == [down, mine, calm] and total == 3
    counts = await lists.counts(db_session, user_id=agent.id)
    assert counts[lists.View.mine] == 1
    assert counts[lists.View.unassigned] == 2
    assert counts[lists.View.urgent] == 1
    assert counts[lists.View.solved] == 1
    assert counts[lists.View.breaching] == 1


async def test_search_by_text_number_and_id(db_session: AsyncSession) -> None:
    agent = await make_user(db_session)
    first = await _ticket(db_session, "+14155550101", "Refund", "the blue kettle leaks")
    second = await _ticket(db_session, "+14155550102", "Shipping")

    async def search(**filters) -> list[int]:
        found, _ = await lists.find(db_session, lists.Filters(**filters), user_id=agent.id)
        return [ticket.id for ticket in found]

    assert await search(text="KETTLE") == [first]
    owner = await customers.lookup(db_session, text="(415) 555-0102", region="US")
    assert await search(customer_ids=(owner.id,)) == [second]
    assert await search(ticket_id=second) == [second]
    assert await search(text="100%_") == []


async def test_moving_an_event_and_merging_tickets(db_session: AsyncSession) -> None:
    agent = await make_user(db_session)
    a = await _ticket(db_session, "+14155550101", "First")
    b = await _ticket(db_session, "+14155550101", "Second")
    ticket_a = await tickets.get_ticket(db_session, ticket_id=a)
    ticket_b = await tickets.get_ticket(db_session, ticket_id=b)
    call = await tickets.add_contact(
        db_session, customer_id=ticket_a.requester_id, channel=Channel.phone,
        kind=TicketEventKind.call, subject="Call", body="Inbound call", ticket_id=a,
    )
    await tickets.move_event(db_session, event=call, to=ticket_b, actor_id=agent.id)
    assert call.ticket_id == b and call.data["moved_from"] == a
    with pytest.raises(tickets.TicketError):
        await tickets.move_event(db_session, event=call, to=ticket_b, actor_id=agent.id)

    everything = {e.id for t in (a, b) for e in await tickets.timeline(db_session, ticket_id=t)}
    await tickets.merge_tickets(db_session, source=ticket_a, target=ticket_b, actor_id=agent.id)
    after = {e.id for e in await tickets.timeline(db_session, ticket_id=b)}
    assert everything <= after
    assert ticket_a.status == TicketStatus.closed and ticket_a.merged_into_id == b
    with pytest.raises(tickets.TicketError, match="already merged"):
        await tickets.merge_tickets(db_session, source=ticket_a, target=ticket_b,
                                    actor_id=agent.id)


async def test_a_macro_replies_and_changes_fields_in_one_go(db_session: AsyncSession) -> None:
    agent = await make_user(db_session)
    ticket = await tickets.get_ticket(
        db_session, ticket_id=await _ticket(db_session, "+14155550101", "Broken")
    )
    escalate = next(m for m in await macros.offered(db_session) if m.name == "Escalate to Tier 2")
    made = await macros.apply(db_session, ticket=ticket, macro=escalate, author_id=agent.id)
    assert ticket.priority == TicketPriority.high and "escalated" in ticket.tags
    assert (await actions.group_named(db_session, name="Tier 2")).id == ticket.group_id
    assert made[0].kind == TicketEventKind.note and "Tier 2" in made[0].body
    assert all(e.data.get("via") == "macro: Escalate to Tier 2" for e in made[1:])
    with pytest.raises(actions.ActionError, match="action 1: there is no group"):
        await macros.create(db_session, name="bad", body="",
                            steps=[{"set": "group", "value": "Nowhere"}])

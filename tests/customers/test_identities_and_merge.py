"""Customers are found by a number in any format, an email in any case; merges lose nothing."""

from __future__ import annotations

import pytest
from builders import make_user
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.audit.models import AuditEntry
from callcenter.customers import service as customers
from callcenter.customers.models import IdentityKind
from callcenter.flows import merging
from callcenter.tickets import service as tickets
from callcenter.tickets.models import Channel, TicketEventKind


@pytest.mark.parametrize("typed", [
    "+1 415 555 0100", "(415) 555-0100", "415.555.0100", "415/555-0100", "1-415-555-0100",
    "4155550100", "+14155550100",
])
async def test_a_number_in_any_format_finds_the_customer(
    db_session: AsyncSession, typed: str
) -> None:
    owner = await customers.find_or_create_by_phone(db_session, phone="+14155550100")
    found = await customers.lookup(db_session, text=typed, region="US")
    assert found is not None and found.id == owner.id


async def test_a_national_prefix_is_read_in_the_centres_region(db_session: AsyncSession) -> None:
    owner = await customers.find_or_create_by_phone(db_session, phone="+442079460000")
    assert (await customers.lookup(db_session, text="020 7946 0000", region="GB")).id == owner.id
    assert await customers.lookup(db_session, text="020 7946 0000", region="US") is None


async def test_emails_are_case_insensitive_and_identities_unique(db_session: AsyncSession) -> None:
    first = await customers.find_or_create_by_phone(db_session, phone="+14155550100")
    other = await customers.find_or_create_by_phone(db_session, phone="+14155550101")
    await customers.add_identity(
        db_session, customer=first, kind=IdentityKind.email, value="Ann@Shop.Example", region="US"
    )
    found = await customers.lookup(db_session, text="ann@shop.EXAMPLE", region="US")
    assert found is not None and found.id == first.id
    with pytest.raises(customers.IdentityError, match=f"belongs to customer #{first.id}"):
        await customers.add_identity(
            db_session, customer=other, kind=IdentityKind.email, value="ANN@shop.example",
            region="US",
        )
    with pytest.raises(customers.IdentityError, match="not a phone number"):
        await customers.add_identity(
            db_session, customer=other, kind=IdentityKind.phone, value="12", region="US"
        )


async def _ticket(session: AsyncSession, customer_id: int, subject: str) -> int:
    event = await tickets.add_contact(
        session, customer_id=customer_id, channel=Channel.phone, kind=TicketEventKind.call,
        subject=subject, body=subject,
    )
    return event.ticket_id


async def test_a_merge_keeps_everything_and_shows_on_both(db_session: AsyncSession) -> None:
    admin = await make_user(db_session)
    phone_only = await customers.find_or_create_by_phone(db_session, phone="+14155550100")
    emailer = await customers.find_or_create_by_phone(db_session, phone="+14155550199")
    await customers.add_identity(db_session, customer=emailer, kind=IdentityKind.email,
                                 value="ann@shop.example", region="US")
    kept = await _ticket(db_session, phone_only.id, "Call one")
    moved = await _ticket(db_session, emailer.id, "Call two")
    before = {e.id for t in (kept, moved) for e in await tickets.timeline(db_session, ticket_id=t)}

    survivor = await merging.merge_customers(
        db_session, source_id=emailer.id, target_id=phone_only.id, actor_id=admin.id
    )
    assert survivor.id == phone_only.id
    values = {i.value for i in await customers.identities(db_session, customer_id=survivor.id)}
    assert values == {"+14155550100", "+14155550199", "ann@shop.example"}
    history = await tickets.customer_timeline(db_session, customer_id=survivor.id)
    assert {event.id for event in history} == before
    last_five = await tickets.recent_for(db_session, customer_id=survivor.id, besides=kept)
    assert [ticket.id for ticket in last_five] == [moved]
    assert emailer.merged_into_id == survivor.id and emailer.merged_by_id == admin.id
    assert [c.id for c in await customers.merged_from(db_session, customer_id=survivor.id)] == [
        emailer.id
    ]
    logged = await db_session.scalar(
        select(AuditEntry).where(AuditEntry.action == "customer.merged")
    )
    assert logged is not None and logged.details["merged"] == emailer.id

    # Either number now reaches the survivor; merging again is refused, clearly.
    assert (await customers.lookup(db_session, text="415-555-0199", region="US")).id == survivor.id
    with pytest.raises(merging.MergeError, match="already merged"):
        await merging.merge_customers(
            db_session, source_id=emailer.id, target_id=phone_only.id, actor_id=admin.id
        )

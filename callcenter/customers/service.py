"""Finding the customer behind a phone number, email address or chat id."""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.customers.models import Customer, Identity, IdentityKind
from callcenter.db import utcnow
from callcenter.upsert import insert_ignoring_conflicts


async def find_by_identity(
    session: AsyncSession, *, kind: IdentityKind, value: str
) -> Customer | None:
    return await session.scalar(
        select(Customer).join(Identity).where(Identity.kind == kind, Identity.value == value)
    )


async def find_or_create_by_phone(session: AsyncSession, *, phone: str) -> Customer:
    """The customer who owns this E.164 number, made on first contact.

    Two calls from a new number at once race to create the identity: the loser's identity
    insert does nothing (unique kind and value), so it drops its own new customer and takes
    the winner's.
    """
    found = await find_by_identity(session, kind=IdentityKind.phone, value=phone)
    if found is not None:
        return found
    now = utcnow()
    customer = await session.scalar(
        insert(Customer).values(name="", created_at=now).returning(Customer)
    )
    assert customer is not None
    claimed = await session.scalar(
        insert_ignoring_conflicts(
            session,
            Identity,
            customer_id=customer.id,
            kind=IdentityKind.phone,
            value=phone,
            created_at=now,
        ).returning(Identity.id)
    )
    if claimed is not None:
        return customer
    await session.execute(delete(Customer).where(Customer.id == customer.id))
    winner = await find_by_identity(session, kind=IdentityKind.phone, value=phone)
    assert winner is not None
    return winner


async def create_anonymous(session: AsyncSession) -> Customer:
    """A customer for a caller who withheld their number: their call still needs a ticket."""
    customer = Customer(name="Anonymous caller")
    session.add(customer)
    await session.flush()
    return customer


async def lock(session: AsyncSession, *, customer_id: int) -> None:
    """Hold the customer's row until commit, so two contacts landing at once for the same
    customer take turns (and find the same open ticket) instead of opening two."""
    await session.execute(
        select(Customer.id).where(Customer.id == customer_id).with_for_update()
    )


async def names(session: AsyncSession, *, customer_ids: set[int]) -> dict[int, str]:
    """The names of these customers (those who have one), by id."""
    if not customer_ids:
        return {}
    rows = await session.execute(
        select(Customer.id, Customer.name).where(Customer.id.in_(customer_ids), Customer.name != "")
    )
    return {customer_id: name for customer_id, name in rows}


async def get(session: AsyncSession, *, customer_id: int) -> Customer | None:
    return await session.get(Customer, customer_id)


async def phone_numbers(session: AsyncSession, *, customer_id: int) -> list[str]:
    """The customer's phone numbers (E.164), oldest first."""
    rows = await session.scalars(
        select(Identity.value)
        .where(Identity.customer_id == customer_id, Identity.kind == IdentityKind.phone)
        .order_by(Identity.id)
    )
    return list(rows)

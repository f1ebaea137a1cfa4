"""Finding the customer behind a phone number, email address or chat id."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.customers.models import Customer, Identity, IdentityKind


async def find_by_identity(
    session: AsyncSession, *, kind: IdentityKind, value: str
) -> Customer | None:
    return await session.scalar(
        select(Customer).join(Identity).where(Identity.kind == kind, Identity.value == value)
    )


async def find_or_create_by_phone(session: AsyncSession, *, phone: str) -> Customer:
    """The customer who owns this E.164 number, made on first contact.

    Two calls from a new number at once race to create the identity; the loser's insert
    fails on the unique (kind, value) and it takes the winner's customer instead.
    """
    found = await find_by_identity(session, kind=IdentityKind.phone, value=phone)
    if found is not None:
        return found
    try:
        async with session.begin_nested():
            customer = Customer(name="")
            customer.identities.append(Identity(kind=IdentityKind.phone, value=phone))
            session.add(customer)
            await session.flush()
        return customer
    except IntegrityError:
        found = await find_by_identity(session, kind=IdentityKind.phone, value=phone)
        assert found is not None
        return found


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

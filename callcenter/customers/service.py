"""Finding the customer behind a phone number, email address or chat id."""

from __future__ import annotations

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.customers import phones
from callcenter.customers.models import Customer, Identity, IdentityKind
from callcenter.db import containing, utcnow
from callcenter.upsert import insert_ignoring_conflicts


async def find_by_identity(
    session: AsyncSession, *, kind: IdentityKind, value: str
) -> Customer | None:
    return await session.scalar(
        select(Customer).join(Identity).where(Identity.kind == kind, Identity.value == value)
    )


async def find_or_create_by_phone(session: AsyncSession, *, phone: str) -> Customer:
    """The customer who owns this E.164 number, made on first contact."""
    return await find_or_create(session, kind=IdentityKind.phone, value=phone)


async def find_or_create(
    session: AsyncSession, *, kind: IdentityKind, value: str, name: str = ""
) -> Customer:
    """The customer who owns this identity (normalised already), made on first contact
    with `name` (the name an email's From gives, say).

    Two contacts from a new identity at once race to create it: the loser's identity
    insert does nothing (unique kind and value), so it drops its own new customer and takes
    the winner's.
    """
    found = await find_by_identity(session, kind=kind, value=value)
    if found is not None:
        if name and not found.name:
            found.name = name[:200]
        return found
    now = utcnow()
    customer = await session.scalar(
        insert(Customer).values(name=name[:200], created_at=now).returning(Customer)
    )
    assert customer is not None
    claimed = await session.scalar(
        insert_ignoring_conflicts(
            session,
            Identity,
            customer_id=customer.id,
            kind=kind,
            value=value,
            created_at=now,
        ).returning(Identity.id)
    )
    if claimed is not None:
        return customer
    await session.execute(delete(Customer).where(Customer.id == customer.id))
    winner = await find_by_identity(session, kind=kind, value=value)
    assert winner is not None
    return winner


async def create_named(session: AsyncSession, *, name: str) -> Customer:
    """A customer we know by name (and an identity the caller adds), not by a call."""
    customer = Customer(name=name.strip()[:200])
    session.add(customer)
    await session.flush()
    return customer


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


async def labels(session: AsyncSession, *, customer_ids: set[int]) -> dict[int, str]:
    """How pages name these customers: their name, else their first number or address."""
    if not customer_ids:
        return {}
    found = await names(session, customer_ids=customer_ids)
    unnamed = customer_ids - set(found)
    if unnamed:
        rows = await session.execute(
            select(Identity.customer_id, Identity.value)
            .where(Identity.customer_id.in_(unnamed)).order_by(Identity.id.desc())
        )
        found.update({customer_id: value for customer_id, value in rows})  # the oldest wins
    return found


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


class IdentityError(ValueError):
    """An identity that cannot be used: unreadable, or another customer's."""


def normalise(kind: IdentityKind, value: str, *, region: str) -> str:
    """The one form an identity is stored and looked up in: E.164 for a phone number typed
    any way (spaces, dashes, dots, "/", a national prefix: read in `region`), lower case
    for an email address, trimmed for a chat id."""
    value = value.strip()
    if kind == IdentityKind.phone:
        number = phones.to_e164(value, region=region)
        if number is None:
            raise IdentityError(f"{value!r} is not a phone number")
        return number
    if kind == IdentityKind.email:
        local, _, domain = value.lower().rpartition("@")
        if not local or "." not in domain or " " in value or len(value) > 320:
            raise IdentityError(f"{value!r} is not an email address")
        return f"{local}@{domain}"
    if not value or len(value) > 320:
        raise IdentityError("a chat id cannot be empty")
    return value


def guess_kind(text: str) -> IdentityKind | None:
    """What a person typed into a search box looks like: an email address, a phone number
    (digits and the punctuation people write numbers with), or neither."""
    text = text.strip()
    if "@" in text:
        return IdentityKind.email
    if text and sum(ch.isdigit() for ch in text) >= 5 and all(ch in _PHONE_CHARS for ch in text):
        return IdentityKind.phone
    return None


_PHONE_CHARS = set("0123456789+-. /()")


async def lookup(session: AsyncSession, *, text: str, region: str) -> Customer | None:
    """The customer behind whatever identity `text` is (a number in any format, an email
    address in any case, a chat id), or None."""
    kind = guess_kind(text) or IdentityKind.chat
    try:
        value = normalise(kind, text, region=region)
    except IdentityError:
        return None
    return await find_by_identity(session, kind=kind, value=value)


async def identities(session: AsyncSession, *, customer_id: int) -> list[Identity]:
    return list(await session.scalars(
        select(Identity).where(Identity.customer_id == customer_id)
        .order_by(Identity.kind, Identity.id)
    ))


async def get_identity(session: AsyncSession, *, identity_id: int) -> Identity | None:
    return await session.get(Identity, identity_id)


async def add_identity(
    session: AsyncSession, *, customer: Customer, kind: IdentityKind, value: str, region: str
) -> Identity:
    """Give the customer another way we recognise them (IdentityError if it is another
    customer's: merge the two instead)."""
    value = normalise(kind, value, region=region)
    owner = await find_by_identity(session, kind=kind, value=value)
    if owner is not None:
        if owner.id == customer.id:
            found = await session.scalar(
                select(Identity).where(Identity.kind == kind, Identity.value == value)
            )
            assert found is not None
            return found
        raise IdentityError(f"{value} belongs to customer #{owner.id}: merge the two instead")
    identity = Identity(customer_id=customer.id, kind=kind, value=value, created_at=utcnow())
    session.add(identity)
    await session.flush()
    return identity


async def remove_identity(session: AsyncSession, *, identity: Identity) -> None:
    await session.delete(identity)
    await session.flush()


async def list_customers(
    session: AsyncSession, *, q: str = "", region: str, offset: int = 0, limit: int = 50
) -> tuple[list[Customer], int]:
    """Customers matching `q` (an identity in any format, or part of a name), newest
    first, with how many match in all. Merged-away customers are left out."""
    query = select(Customer).where(Customer.merged_into_id.is_(None))
    if q.strip():
        found = await lookup(session, text=q, region=region)
        name = containing(Customer.name, q.strip())
        query = query.where(name | (Customer.id == found.id) if found else name)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(query.order_by(Customer.id.desc()).offset(offset).limit(limit))
    return list(rows), total or 0


async def rename(session: AsyncSession, *, customer: Customer, name: str) -> None:
    customer.name = name.strip()[:200]
    await session.flush()


async def merge(
    session: AsyncSession, *, source: Customer, target: Customer, actor_id: int | None
) -> None:
    """Give `target` every identity of `source` and mark `source` merged into it.

    The caller moves what other domains hold for `source` (tickets, calls) in the same
    transaction: see flows/merging.py. `source` keeps its row so old links still resolve.
    """
    await session.execute(
        update(Identity).where(Identity.customer_id == source.id).values(customer_id=target.id)
    )
    if not target.name and source.name:
        target.name = source.name
    source.merged_into_id = target.id
    source.merged_at = utcnow()
    source.merged_by_id = actor_id
    await session.flush()


async def merged_from(session: AsyncSession, *, customer_id: int) -> list[Customer]:
    """The customers merged into this one, latest merge first."""
    return list(await session.scalars(
        select(Customer).where(Customer.merged_into_id == customer_id)
        .order_by(Customer.merged_at.desc())
    ))


async def surviving(session: AsyncSession, *, customer_id: int) -> Customer | None:
    """The customer this one is now: itself, or the one it was merged into (followed)."""
    customer = await get(session, customer_id=customer_id)
    seen = set()
    while customer is not None and customer.merged_into_id is not None and customer.id not in seen:
        seen.add(customer.id)
        customer = await get(session, customer_id=customer.merged_into_id)
    return customer

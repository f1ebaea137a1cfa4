"""The dispositions admins keep: the outcomes an agent picks for a call at wrap-up."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.routing.models import Disposition


async def offered(session: AsyncSession) -> list[Disposition]:
    """The dispositions an agent may pick now, by name."""
    return list(await session.scalars(
        select(Disposition).where(Disposition.active).order_by(Disposition.name)
    ))


async def get(session: AsyncSession, *, disposition_id: int) -> Disposition | None:
    return await session.get(Disposition, disposition_id)


async def find(session: AsyncSession, *, name: str) -> Disposition | None:
    return await session.scalar(select(Disposition).where(Disposition.name == name))


async def add(session: AsyncSession, *, name: str) -> Disposition:
    """Offer `name` at wrap-up (again, if it had been retired)."""
    disposition = await find(session, name=name)
    if disposition is None:
        disposition = Disposition(name=name)
        session.add(disposition)
    disposition.active = True
    await session.flush()
    return disposition


def retire(disposition: Disposition) -> None:
    """No longer offered; calls that were given it keep it."""
    disposition.active = False

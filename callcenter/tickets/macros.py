"""Macros: a saved reply plus field changes, applied to a ticket in one click."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.tickets import actions
from callcenter.tickets import service as tickets
from callcenter.tickets.models import Macro, Ticket, TicketEvent, TicketStatus


async def offered(session: AsyncSession) -> list[Macro]:
    return list(await session.scalars(select(Macro).where(Macro.active).order_by(Macro.name)))


async def get(session: AsyncSession, *, macro_id: int) -> Macro | None:
    return await session.get(Macro, macro_id)


async def named(session: AsyncSession, *, name: str) -> Macro | None:
    return await session.scalar(select(Macro).where(Macro.name == name))


async def check(session: AsyncSession, steps: Sequence[dict[str, Any]]) -> None:
    """Refuse actions that could not be applied (ActionError names the one at fault)."""
    await actions.resolve(session, Ticket(tags=[], status=TicketStatus.new), steps)


async def create(
    session: AsyncSession, *, name: str, body: str, steps: list[dict[str, Any]]
) -> Macro:
    await check(session, steps)
    macro = Macro(name=name.strip(), body=body, actions=steps)
    session.add(macro)
    await session.flush()
    return macro


async def apply(
    session: AsyncSession, *, ticket: Ticket, macro: Macro, author_id: int
) -> list[TicketEvent]:
    """The macro's reply on the timeline (as a note until the ticket's channel can carry
    replies), then its field changes, each saying it came from the macro."""
    made: list[TicketEvent] = []
    if macro.body.strip():
        made.append(tickets.add_note(
            session, ticket, author_id=author_id, body=macro.body, data={"macro": macro.name}
        ))
        await session.flush()
    changes = await actions.resolve(session, ticket, macro.actions)
    made += await tickets.update(
        session, ticket, changes, author_id=author_id, via=f"macro: {macro.name}",
        text=macro.body,
    )
    return made

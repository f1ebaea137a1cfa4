"""Deciding whether a caller is blocked, and counting each time an entry stops a call."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.blocklist.models import BlockKind, BlocklistEntry
from callcenter.db import utcnow


async def add(
    session: AsyncSession,
    *,
    kind: BlockKind,
    value: str = "",
    reason: str = "",
    created_by_id: int | None = None,
) -> BlocklistEntry:
    entry = BlocklistEntry(kind=kind, value=value, reason=reason, created_by_id=created_by_id)
    session.add(entry)
    await session.flush()
    return entry


async def match(
    session: AsyncSession, *, number: str | None, anonymous: bool = False
) -> BlocklistEntry | None:
    """The live entry that blocks this caller, if any.

    `number` is the caller's E.164 number (None when there is none); `anonymous` says the
    caller withheld it, which only an `anonymous` entry blocks. An exact entry wins over a
    prefix, and a longer prefix over a shorter one, so the reason shown is the most specific.
    """
    now = utcnow()
    live = or_(BlocklistEntry.expires_at.is_(None), BlocklistEntry.expires_at > now)
    if anonymous:
        return await session.scalar(
            select(BlocklistEntry).where(BlocklistEntry.kind == BlockKind.anonymous, live).limit(1)
        )
    if number is None:
        return None
    candidates = await session.scalars(
        select(BlocklistEntry).where(
            live,
            or_(
                (BlocklistEntry.kind == BlockKind.exact) & (BlocklistEntry.value == number),
                BlocklistEntry.kind == BlockKind.prefix,
            ),
        )
    )
    best: BlocklistEntry | None = None
    for entry in candidates:
        if entry.kind == BlockKind.prefix and not number.startswith(entry.value):
            continue
        rank = (entry.kind == BlockKind.exact, len(entry.value))
        if best is None or rank > (best.kind == BlockKind.exact, len(best.value)):
            best = entry
    return best


async def record_hit(session: AsyncSession, *, entry: BlocklistEntry) -> None:
    entry.hit_count += 1
    entry.last_hit_at = utcnow()
    await session.flush()

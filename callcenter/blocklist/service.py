"""The blocklist: who never gets through, why, until when, and how often it stopped them.

Entries: exact numbers (stored E.164, typed in any format), prefixes (a whole range,
"+1900"), the anonymous policy (withheld or unknown caller ids), email addresses and
domains (for the email channel). Voice checks `match` before answering, and rejects a
match unanswered. Every change (add, renew, remove, import) writes the audit log in the
same transaction.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter import exports
from callcenter.audit import service as audit
from callcenter.blocklist.models import BlockKind, BlocklistEntry
from callcenter.customers import phones
from callcenter.customers import service as customers
from callcenter.customers.models import IdentityKind
from callcenter.db import containing, utcnow

CSV_COLUMNS = ("kind", "value", "reason", "expires_at")
MAX_IMPORT_ROWS = 10_000
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class BlockError(ValueError):
    """An entry that cannot be made, and why."""


def normalise(kind: BlockKind, value: str, *, region: str) -> str:
    """The form an entry is stored and matched in, from whatever a person typed."""
    value = value.strip()
    if kind == BlockKind.anonymous:
        return ""
    if kind == BlockKind.exact:
        number = phones.to_e164(value, region=region)
        if number is None:
            raise BlockError(f"{value!r} is not a phone number")
        return number
    if kind == BlockKind.prefix:
        digits = re.sub(r"[\s().\-/]", "", value)
        if not re.fullmatch(r"\+\d{1,14}", digits):
            raise BlockError(f"{value!r} is not a prefix like +1900 (a + and digits)")
        return digits
    if kind == BlockKind.email:
        try:  # the same address, in the same form, as the customer it belongs to
            return customers.normalise(IdentityKind.email, value, region=region)
        except customers.IdentityError as error:
            raise BlockError(str(error)) from None
    domain = value.lower().removeprefix("@")
    if not _DOMAIN.match(domain):
        raise BlockError(f"{value!r} is not a domain like example.com")
    return domain


def _live(now: dt.datetime):
    return or_(BlocklistEntry.expires_at.is_(None), BlocklistEntry.expires_at > now)


async def match(
    session: AsyncSession, *, number: str | None, anonymous: bool = False
) -> BlocklistEntry | None:
    """The live entry that blocks this caller, if any.

    `number` is the caller's E.164 number (None when there is none); `anonymous` says the
    caller withheld it, which only an `anonymous` entry blocks. An exact entry wins over a
    prefix, and a longer prefix over a shorter one, so the reason shown is the most specific.
    """
    now = utcnow()
    if anonymous:
        return await session.scalar(
            select(BlocklistEntry)
            .where(BlocklistEntry.kind == BlockKind.anonymous, _live(now)).limit(1)
        )
    if number is None:
        return None
    candidates = await session.scalars(
        select(BlocklistEntry).where(
            _live(now),
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


async def match_address(session: AsyncSession, *, address: str) -> BlocklistEntry | None:
    """The live entry that blocks mail from `address` (the address itself, or its domain
    or any parent domain of it), if any."""
    address = address.strip().lower()
    domain = address.rpartition("@")[2]
    parts = domain.split(".")
    domains = [".".join(parts[i:]) for i in range(len(parts) - 1)]
    return await session.scalar(
        select(BlocklistEntry).where(
            _live(utcnow()),
            or_(
                (BlocklistEntry.kind == BlockKind.email) & (BlocklistEntry.value == address),
                (BlocklistEntry.kind == BlockKind.domain) & BlocklistEntry.value.in_(domains),
            ),
        ).order_by(BlocklistEntry.kind.desc()).limit(1)  # email before domain
    )


async def blocked_values(session: AsyncSession, *, values: list[str]) -> set[str]:
    """Which of these numbers (E.164) and addresses an exact or email entry blocks now."""
    if not values:
        return set()
    rows = await session.scalars(select(BlocklistEntry.value).where(
        _live(utcnow()), BlocklistEntry.kind.in_((BlockKind.exact, BlockKind.email)),
        BlocklistEntry.value.in_(values),
    ))
    return set(rows)


async def record_hit(session: AsyncSession, *, entry: BlocklistEntry) -> None:
    entry.hit_count += 1
    entry.last_hit_at = utcnow()
    await session.flush()


async def find(
    session: AsyncSession, *, kind: BlockKind, value: str
) -> BlocklistEntry | None:
    return await session.scalar(
        select(BlocklistEntry).where(BlocklistEntry.kind == kind, BlocklistEntry.value == value)
    )


async def get(session: AsyncSession, *, entry_id: int) -> BlocklistEntry | None:
    return await session.get(BlocklistEntry, entry_id)


async def list_entries(
    session: AsyncSession, *, kind: BlockKind | None = None, q: str = "", offset: int = 0,
    limit: int = 50,
) -> tuple[list[BlocklistEntry], int]:
    """Entries newest first (expired ones included: they say so), and how many in all."""
    query = select(BlocklistEntry)
    if kind is not None:
        query = query.where(BlocklistEntry.kind == kind)
    if q.strip():
        query = query.where(or_(containing(BlocklistEntry.value, q.strip()),
                                containing(BlocklistEntry.reason, q.strip())))
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(
        query.order_by(BlocklistEntry.id.desc()).offset(offset).limit(limit)
    )
    return list(rows), total


async def add(
    session: AsyncSession,
    *,
    kind: BlockKind,
    value: str = "",
    reason: str = "",
    created_by_id: int | None = None,
    expires_at: dt.datetime | None = None,
    region: str = "US",
) -> BlocklistEntry:
    """Block `value` (any format: it is normalised), audited. An entry for the same value
    is renewed instead (reason and expiry replaced), so a number is never listed twice."""
    value = normalise(kind, value, region=region)
    if expires_at is not None and expires_at <= utcnow():
        raise BlockError("the expiry must be in the future")
    entry = await find(session, kind=kind, value=value)
    if entry is None:
        entry = BlocklistEntry(kind=kind, value=value, created_by_id=created_by_id)
        session.add(entry)
    entry.reason = reason.strip()[:500]
    entry.expires_at = expires_at
    await session.flush()
    await audit.record(
        session, action="blocklist.added", actor_id=created_by_id,
        target=f"blocklist:{entry.id}",
        details={"kind": kind.value, "value": value, "reason": entry.reason,
                 "expires_at": expires_at.isoformat() if expires_at else None},
    )
    return entry


async def remove(session: AsyncSession, *, entry: BlocklistEntry, actor_id: int) -> None:
    await audit.record(
        session, action="blocklist.removed", actor_id=actor_id, target=f"blocklist:{entry.id}",
        details={"kind": entry.kind.value, "value": entry.value, "reason": entry.reason,
                 "hit_count": entry.hit_count},
    )
    await session.delete(entry)
    await session.flush()


def export_csv(entries: list[BlocklistEntry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*CSV_COLUMNS, "hit_count", "last_hit_at", "created_at"])
    for entry in entries:
        writer.writerow([
            entry.kind.value, entry.value, exports.cell(entry.reason),
            entry.expires_at.isoformat() if entry.expires_at else "", entry.hit_count,
            entry.last_hit_at.isoformat() if entry.last_hit_at else "",
            entry.created_at.isoformat(),
        ])
    return out.getvalue()


@dataclass
class ImportResult:
    added: int
    errors: list[str]  # "line 4: '12' is not a phone number"


async def import_csv(
    session: AsyncSession, *, text: str, actor_id: int, region: str
) -> ImportResult:
    """Add every row of a CSV (kind, value, reason, expires_at; a header line first), or
    none: a file with any bad row is refused whole, with each bad row named."""
    try:
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
    except csv.Error as error:
        return ImportResult(added=0, errors=[f"the file is not CSV: {error}"])
    if not rows:
        return ImportResult(added=0, errors=["the file has no rows under its header"])
    if len(rows) > MAX_IMPORT_ROWS:
        return ImportResult(added=0, errors=[f"at most {MAX_IMPORT_ROWS} rows at once"])
    parsed, errors = [], []
    for line, row in enumerate(rows, start=2):
        try:
            kind = BlockKind((row.get("kind") or "").strip().lower())
        except ValueError:
            kinds = ", ".join(k.value for k in BlockKind)
            errors.append(f"line {line}: kind must be one of {kinds}")
            continue
        try:
            value = normalise(kind, row.get("value") or "", region=region)
            raw_expiry = (row.get("expires_at") or "").strip()
            expires = dt.datetime.fromisoformat(raw_expiry) if raw_expiry else None
            if expires is not None and expires.tzinfo is None:
                expires = expires.replace(tzinfo=dt.UTC)
        except (BlockError, ValueError) as error:
            errors.append(f"line {line}: {error}")
            continue
        reason = exports.uncell((row.get("reason") or "").strip())
        parsed.append((kind, value, reason, expires))
    if errors:
        return ImportResult(added=0, errors=errors)
    now = utcnow()
    added = 0
    for kind, value, reason, expires in parsed:
        if expires is not None and expires <= now:
            continue  # already over: nothing to block
        await add(session, kind=kind, value=value, reason=reason, created_by_id=actor_id,
                  expires_at=expires, region=region)
        added += 1
    return ImportResult(added=added, errors=[])

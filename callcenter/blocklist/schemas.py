"""The blocklist API's bodies."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from callcenter.api import PageQuery, PlainText
from callcenter.blocklist.models import BlockKind, BlocklistEntry


class EntryIn(BaseModel):
    """`value` in any format: a number as people type it, a prefix (+1900), an address or
    a domain; empty for `anonymous`. Agents may block numbers and addresses (exact, email);
    prefixes, domains and the anonymous policy are for supervisors."""

    kind: BlockKind
    value: PlainText = Field(default="", max_length=320)
    reason: PlainText = Field(default="", max_length=500)
    expires_at: dt.datetime | None = Field(default=None, description="none: for good")


class EntryOut(BaseModel):
    id: int
    kind: BlockKind
    value: str
    reason: str
    expires_at: dt.datetime | None
    expired: bool
    created_by_id: int | None
    created_at: dt.datetime
    hit_count: int
    last_hit_at: dt.datetime | None

    @classmethod
    def of(cls, entry: BlocklistEntry, *, now: dt.datetime) -> EntryOut:
        return cls(
            id=entry.id, kind=entry.kind, value=entry.value, reason=entry.reason,
            expires_at=entry.expires_at,
            expired=entry.expires_at is not None and entry.expires_at <= now,
            created_by_id=entry.created_by_id, created_at=entry.created_at,
            hit_count=entry.hit_count, last_hit_at=entry.last_hit_at,
        )


class EntryPage(BaseModel):
    items: list[EntryOut]
    page: int
    per_page: int
    total: int
    next_page: int | None


class EntryQuery(PageQuery):
    kind: BlockKind | None = None
    q: PlainText = Field(default="", max_length=200)


class ImportIn(BaseModel):
    csv: str = Field(min_length=1, max_length=2_000_000,
                     description="a header line `kind,value,reason,expires_at`, then rows")


class ImportOut(BaseModel):
    added: int

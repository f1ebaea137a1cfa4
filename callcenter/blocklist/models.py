"""A blocklist entry, with why it exists, until when, and how often it stopped a call."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.db import Base, CreatedAtMixin


class BlockKind(enum.StrEnum):
    exact = "exact"
    prefix = "prefix"
    anonymous = "anonymous"
    email = "email"
    domain = "domain"


class BlocklistEntry(CreatedAtMixin, Base):
    __tablename__ = "blocklist_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[BlockKind] = mapped_column(Enum(BlockKind, native_enum=False, length=20))
    # E.164 for exact, digits after "+" for prefix, lower case for email and domain.
    value: Mapped[str] = mapped_column(String(320), default="", index=True)
    reason: Mapped[str] = mapped_column(String(500), default="")
    expires_at: Mapped[dt.datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    hit_count: Mapped[int] = mapped_column(default=0)
    last_hit_at: Mapped[dt.datetime | None]

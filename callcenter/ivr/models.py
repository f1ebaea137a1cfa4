"""IVR flows as data the app owns: each flow's draft, its published versions, and which of
our phone numbers leads to which flow.

A version is immutable once published (a rollback publishes an old version's definition
again, as a new version), so a call pinned to the version it started with
(`call.flow_version_id`) hears that version to its end, whatever is published meanwhile.
Definitions are stored as the flow's JSON (the shape `ivr/flow.schema.json` describes);
YAML is the import and export format.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.db import Base, CreatedAtMixin, utcnow


class IvrFlow(CreatedAtMixin, Base):
    __tablename__ = "ivr_flow"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    # What admins edit; published as a new version when valid.
    draft: Mapped[dict[str, Any]] = mapped_column(JSON)
    draft_updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    draft_updated_by: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    # The version calls start in now (None: never published). Versions are never deleted.
    published_version_id: Mapped[int | None]


class IvrFlowVersion(Base):
    __tablename__ = "ivr_flow_version"
    __table_args__ = (UniqueConstraint("flow_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    flow_id: Mapped[int] = mapped_column(ForeignKey("ivr_flow.id", ondelete="CASCADE"))
    number: Mapped[int]  # 1, 2, ... per flow
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(Text, default="")
    published_by: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    published_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class IvrNumberRoute(CreatedAtMixin, Base):
    """One of our numbers and the flow its callers meet (a line per product or language);
    a number with no route meets the default flow."""

    __tablename__ = "ivr_number_route"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)  # E.164
    flow_id: Mapped[int] = mapped_column(ForeignKey("ivr_flow.id", ondelete="CASCADE"))

"""A customer is one person however they reach us; identities are how we recognise them."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.db import Base, CreatedAtMixin


class IdentityKind(enum.StrEnum):
    phone = "phone"
    email = "email"
    chat = "chat"


class Customer(CreatedAtMixin, Base):
    __tablename__ = "customer"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    # A customer merged into another keeps its row (links to it still work) but nothing
    # else: its identities and tickets went to `merged_into_id`.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    merged_at: Mapped[dt.datetime | None]
    merged_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    identities: Mapped[list[Identity]] = relationship(
        back_populates="customer", cascade="all, delete-orphan"
    )


class Identity(CreatedAtMixin, Base):
    """A phone number (E.164), an email address (lower case) or a chat id; unique per kind."""

    __tablename__ = "identity"
    __table_args__ = (UniqueConstraint("kind", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[IdentityKind] = mapped_column(Enum(IdentityKind, native_enum=False, length=10))
    value: Mapped[str] = mapped_column(String(320))

    customer: Mapped[Customer] = relationship(back_populates="identities")

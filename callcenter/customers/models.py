"""A customer is one person however they reach us; identities are how we recognise them."""

from __future__ import annotations

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

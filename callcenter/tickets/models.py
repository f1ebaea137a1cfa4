"""A ticket is a customer's request; its events are the timeline across every channel."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.db import Base, CreatedAtMixin, utcnow


class TicketStatus(enum.StrEnum):
    new = "new"
    open = "open"
    pending = "pending"
    solved = "solved"
    closed = "closed"

    @property
    def is_open(self) -> bool:
        return self in (TicketStatus.new, TicketStatus.open, TicketStatus.pending)


class TicketPriority(enum.StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


class Channel(enum.StrEnum):
    phone = "phone"
    email = "email"
    chat = "chat"
    sms = "sms"
    web = "web"


class TicketEventKind(enum.StrEnum):
    call = "call"
    voicemail = "voicemail"
    email = "email"
    chat = "chat"
    sms = "sms"
    note = "note"
    field_change = "field_change"


class Ticket(CreatedAtMixin, Base):
    __tablename__ = "ticket"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(300))
    status: Mapped[TicketStatus] = mapped_column(
        Enum(TicketStatus, native_enum=False, length=20), default=TicketStatus.new, index=True
    )
    priority: Mapped[TicketPriority] = mapped_column(
        Enum(TicketPriority, native_enum=False, length=20), default=TicketPriority.normal
    )
    channel: Mapped[Channel] = mapped_column(Enum(Channel, native_enum=False, length=20))
    requester_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    solved_at: Mapped[dt.datetime | None]

    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", order_by="TicketEvent.id", cascade="all, delete-orphan"
    )

    # A requester's tickets, latest first: the softphone's "last five tickets".
    __table_args__ = (Index("ix_ticket_requester_updated", "requester_id", "updated_at"),)


class TicketEvent(CreatedAtMixin, Base):
    """One entry on a ticket's timeline: a call, a voicemail, a message, a note, a change."""

    __tablename__ = "ticket_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    kind: Mapped[TicketEventKind] = mapped_column(
        Enum(TicketEventKind, native_enum=False, length=20)
    )
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    call_id: Mapped[int | None] = mapped_column(
        ForeignKey("call.id", ondelete="SET NULL"), index=True, unique=True
    )
    body: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    ticket: Mapped[Ticket] = relationship(back_populates="events")

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
    on_hold = "on_hold"
    solved = "solved"
    closed = "closed"

    @property
    def is_open(self) -> bool:
        """Still work to do (a new contact joins it); solved and closed tickets are done."""
        return self not in (TicketStatus.solved, TicketStatus.closed)


class TicketPriority(enum.StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"

    @property
    def rank(self) -> int:
        """Higher is more urgent: low 0 .. urgent 3."""
        return list(TicketPriority).index(self)


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
    web = "web"
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
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), index=True
    )
    group_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_group.id", ondelete="SET NULL"))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    solved_at: Mapped[dt.datetime | None]
    # SLA (see sla.py): when each target falls due, when it was met, and the earliest
    # target still unmet (what "breaching soon" sorts by). None: no target applies.
    first_reply_due_at: Mapped[dt.datetime | None]
    first_replied_at: Mapped[dt.datetime | None]
    next_reply_due_at: Mapped[dt.datetime | None]
    resolution_due_at: Mapped[dt.datetime | None]
    sla_due_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    # The customer has been waiting for our answer since then (None: we answered last).
    awaiting_since: Mapped[dt.datetime | None]
    # A ticket merged into another is closed, and says where its history went.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"))

    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", order_by="TicketEvent.id", cascade="all, delete-orphan"
    )

    # A requester's tickets, latest first: the softphone's "last five tickets".
    __table_args__ = (Index("ix_ticket_requester_updated", "requester_id", "updated_at"),)


class TicketGroup(CreatedAtMixin, Base):
    """A team tickets are given to (Billing, Tier 2); an assignee works within it."""

    __tablename__ = "ticket_group"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # Mail to this address opens the group's tickets (billing@...); replies come from it.
    email: Mapped[str | None] = mapped_column(String(320), unique=True)


class SlaPolicy(Base):
    """A priority's targets, in minutes of the hours they are counted in (see sla.py)."""

    __tablename__ = "sla_policy"

    priority: Mapped[TicketPriority] = mapped_column(
        Enum(TicketPriority, native_enum=False, length=20), primary_key=True
    )
    first_reply_minutes: Mapped[int | None]
    next_reply_minutes: Mapped[int | None]
    resolution_minutes: Mapped[int | None]
    # Business hours as people write them ("mon-fri 09:00-17:00", "24/7"), in `zone`.
    hours: Mapped[str] = mapped_column(String(300), default="mon-fri 09:00-17:00")
    zone: Mapped[str] = mapped_column(String(64), default="UTC")


class DeskSettings(Base):
    """The help desk's own settings, one row (id 1), changed by admins while it runs."""

    __tablename__ = "desk_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    # A contact joins the customer's open ticket if it was updated this recently, else it
    # opens a new ticket (0: any open ticket, however old).
    thread_window_hours: Mapped[int] = mapped_column(default=168)


class Trigger(CreatedAtMixin, Base):
    """A rule run when a ticket is created or updated: if the conditions hold, the actions
    are applied, in `position` order (see triggers.py for the shapes of both)."""

    __tablename__ = "ticket_trigger"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(default=0)
    on_create: Mapped[bool] = mapped_column(default=True)
    on_update: Mapped[bool] = mapped_column(default=True)
    conditions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class Macro(CreatedAtMixin, Base):
    """A saved reply plus field changes, applied to a ticket in one click."""

    __tablename__ = "ticket_macro"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    body: Mapped[str] = mapped_column(Text, default="")
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class TicketEvent(CreatedAtMixin, Base):
    """One entry on a ticket's timeline: a call, a voicemail, a message, a note, a change."""

    __tablename__ = "ticket_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    kind: Mapped[TicketEventKind] = mapped_column(
        Enum(TicketEventKind, native_enum=False, length=20)
    )
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    call_id: Mapped[int | None] = mapped_column(
        ForeignKey("call.id", ondelete="SET NULL"), index=True, unique=True
    )
    body: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The channel's own id of the message (Message-ID, MessageSid, a chat message's id):
    # a delivery retried by the sender lands once.
    external_id: Mapped[str | None] = mapped_column(String(300))

    ticket: Mapped[Ticket] = relationship(back_populates="events")

    __table_args__ = (
        # A ticket's timeline in order, and a customer's across their tickets (newest first).
        Index("ix_ticket_event_ticket_id_id", "ticket_id", "id"),
        Index("ix_ticket_event_external", "kind", "external_id", unique=True),
    )


class TimeSource(enum.StrEnum):
    timer = "timer"  # the ticket page's timer, recorded with an update
    call = "call"  # a call's ring, talk, hold or wrap-up, per agent
    manual = "manual"  # work done elsewhere, entered by hand
    correction = "correction"  # a supervisor's change to another entry


class TimeEntry(CreatedAtMixin, Base):
    """Seconds an agent spent on a ticket. Entries are only ever added: a correction is an
    entry of its own (the difference, with a reason) pointing at the one it corrects, so
    the original stays and the sum is always the total."""

    __tablename__ = "time_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), index=True
    )
    seconds: Mapped[int]
    source: Mapped[TimeSource] = mapped_column(Enum(TimeSource, native_enum=False, length=20))
    # A call's part: ring, talk, hold or wrapup.
    call_part: Mapped[str | None] = mapped_column(String(10))
    call_id: Mapped[int | None] = mapped_column(ForeignKey("call.id", ondelete="SET NULL"))
    # When the work was done (what "per day" counts by), not when it was entered.
    worked_at: Mapped[dt.datetime] = mapped_column(index=True)
    note: Mapped[str] = mapped_column(String(500), default="")
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("time_entry.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    # Makes a retried recording a no-op: "call:<reservation>:<part>", "timer:<uuid>".
    key: Mapped[str | None] = mapped_column(String(80), unique=True)


class TicketTimer(Base):
    """An agent's timer on a ticket, kept on the server so no tab can lose or double it.

    Time counts from `running_since`, but never past `seen_at` plus a grace: a page that
    stops saying it is open (a closed tab, a crashed browser) stops the clock there.
    """

    __tablename__ = "ticket_timer"

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
    )
    banked_seconds: Mapped[int] = mapped_column(default=0)
    running_since: Mapped[dt.datetime | None]
    seen_at: Mapped[dt.datetime | None]

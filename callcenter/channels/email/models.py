"""Every message in and out, kept raw, and the attachments taken from it.

A message is stored, raw, before the listener answers 250 (so nothing accepted is ever
lost); what became of it is its status. An agent's reply is a message too: queued in the
transaction that wrote it on the timeline, then sent by the worker through the relay.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.db import Base, CreatedAtMixin


class MailDirection(enum.StrEnum):
    incoming = "incoming"
    outgoing = "outgoing"


class MailStatus(enum.StrEnum):
    received = "received"  # stored raw, not yet read (the listener's first step)
    landed = "landed"  # on a ticket's timeline
    ignored = "ignored"  # noise that opens no ticket: an auto-reply, our own mail, a loop
    refused = "refused"  # a blocked sender
    unparsed = "unparsed"  # could not be read: kept raw, flagged, can be parsed again
    queued = "queued"  # an agent's reply waiting for its (next) attempt
    sent = "sent"  # the relay took it
    failed = "failed"  # every attempt failed, or the relay refused it for good


class Mail(CreatedAtMixin, Base):
    __tablename__ = "mail"

    id: Mapped[int] = mapped_column(primary_key=True)
    direction: Mapped[MailDirection] = mapped_column(
        Enum(MailDirection, native_enum=False, length=10)
    )
    status: Mapped[MailStatus] = mapped_column(Enum(MailStatus, native_enum=False, length=20))
    # Why it was ignored, refused or not parsed, or why its last attempt failed.
    reason: Mapped[str | None] = mapped_column(String(500))
    envelope_from: Mapped[str] = mapped_column(String(320), default="")
    envelope_to: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The Message-ID header (ours for a reply); made from the content when one is missing.
    message_id: Mapped[str] = mapped_column(String(300), index=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("ticket.id", ondelete="SET NULL"), index=True
    )
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("ticket_event.id", ondelete="SET NULL"), index=True
    )
    # The sanitised HTML part, shown on the ticket page next to the text the timeline has.
    html: Mapped[str | None] = mapped_column(Text)
    # An outgoing message's attempts: [{"at": iso, "error": text or null}, ...].
    attempts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    next_attempt_at: Mapped[dt.datetime | None]
    processed_at: Mapped[dt.datetime | None]

    __table_args__ = (Index("ix_mail_due", "status", "next_attempt_at"),)


class MailAttachment(CreatedAtMixin, Base):
    """A file a message carried (an inline image too), kept in the database."""

    __tablename__ = "mail_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    mail_id: Mapped[int] = mapped_column(ForeignKey("mail.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    # The Content-ID an inline image is referred to by from the HTML, without <>.
    content_id: Mapped[str | None] = mapped_column(String(300))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)

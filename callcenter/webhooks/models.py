"""A webhook (where to post which ticket events, and the secret that signs them) and each
delivery of one event to one webhook, with every attempt it took: the admin's log."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.db import Base, CreatedAtMixin


class WebhookEvent(enum.StrEnum):
    """What a webhook receives; it subscribes to the ticket events, and is sent `ping` (the
    admin's test) and `trigger.notified` (a trigger naming it) whatever it chose."""

    ticket_created = "ticket.created"
    ticket_updated = "ticket.updated"
    ticket_event_added = "ticket.event_added"
    # Sent by a trigger's notify action to the webhook it names, whatever it subscribed to.
    trigger_notified = "trigger.notified"
    ping = "ping"


# The bus's event names (`callcenter.events`) behind each ticket event.
FROM_BUS = {
    "tickets.ticket.created": WebhookEvent.ticket_created,
    "tickets.ticket.updated": WebhookEvent.ticket_updated,
    "tickets.event.added": WebhookEvent.ticket_event_added,
}


class DeliveryStatus(enum.StrEnum):
    pending = "pending"  # waiting for its first or next attempt
    delivered = "delivered"  # the receiver answered 2xx
    failed = "failed"  # every attempt failed; an admin may send it again


class Webhook(CreatedAtMixin, Base):
    __tablename__ = "webhook"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(String(2000))
    # Signs every body (HMAC-SHA256); the receiver checks it with the same secret.
    secret: Mapped[str] = mapped_column(String(100))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))


class WebhookDelivery(CreatedAtMixin, Base):
    """One event for one webhook. The body is fixed at the first attempt, so every retry
    sends the same bytes and a receiver can drop repeats by the delivery's `uid`."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
        Index("ix_webhook_delivery_webhook", "webhook_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhook.id", ondelete="CASCADE"))
    event: Mapped[WebhookEvent] = mapped_column(
        Enum(WebhookEvent, native_enum=False, length=40,
             values_callable=lambda kinds: [kind.value for kind in kinds])
    )
    ticket_id: Mapped[int | None]
    ticket_event_id: Mapped[int | None]
    occurred_at: Mapped[dt.datetime]
    status: Mapped[DeliveryStatus] = mapped_column(
        Enum(DeliveryStatus, native_enum=False, length=20), default=DeliveryStatus.pending
    )
    # Due time of the next attempt; while an attempt runs, the end of its lease.
    next_attempt_at: Mapped[dt.datetime | None]
    # What the event itself says beyond the ticket (a trigger's name and message).
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    body: Mapped[str | None] = mapped_column(Text)
    # [{"at", "status_code", "error", "ms", "response"}], oldest first.
    attempts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    delivered_at: Mapped[dt.datetime | None]

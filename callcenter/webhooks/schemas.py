"""The webhooks API's bodies."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from pydantic import BaseModel, Field, StrictBool

from callcenter.api import PageQuery, PlainText
from callcenter.webhooks.models import DeliveryStatus, Webhook, WebhookDelivery, WebhookEvent


class WebhookIn(BaseModel):
    """Where to post, and which ticket events: `ticket.created`, `ticket.updated` (fields,
    notes, merges) and `ticket.event_added` (a contact on the timeline: a call, a message)."""

    name: PlainText = Field(min_length=1, max_length=100)
    url: PlainText = Field(min_length=10, max_length=2000)
    events: list[WebhookEvent] = Field(min_length=1, max_length=10)


class WebhookPatch(BaseModel):
    """Fields to change; `active: false` pauses deliveries (they wait, and go on resume);
    `rotate_secret: true` makes a new signing secret."""

    name: PlainText | None = Field(default=None, min_length=1, max_length=100)
    url: PlainText | None = Field(default=None, min_length=10, max_length=2000)
    events: list[WebhookEvent] | None = Field(default=None, min_length=1, max_length=10)
    active: StrictBool | None = None
    rotate_secret: StrictBool = False


class WebhookOut(BaseModel):
    id: int
    name: str
    url: str
    events: list[str]
    active: bool
    secret: str = Field(description="signs each body: see the X-Callcenter-Signature header")
    created_at: dt.datetime

    @classmethod
    def of(cls, webhook: Webhook) -> WebhookOut:
        return cls.model_validate(webhook, from_attributes=True)


class WebhookList(BaseModel):
    items: list[WebhookOut]


class AttemptOut(BaseModel):
    at: dt.datetime
    status_code: int | None
    error: str | None
    ms: int
    response: str


class DeliveryOut(BaseModel):
    id: int
    uid: str = Field(description="sent as X-Callcenter-Delivery; the same on every retry")
    webhook_id: int
    event: WebhookEvent
    ticket_id: int | None
    status: DeliveryStatus
    occurred_at: dt.datetime
    next_attempt_at: dt.datetime | None
    delivered_at: dt.datetime | None
    attempts: list[AttemptOut]
    body: Any = Field(description="what was posted (null before the first attempt)")

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> DeliveryOut:
        return cls(
            id=delivery.id, uid=delivery.uid, webhook_id=delivery.webhook_id,
            event=delivery.event, ticket_id=delivery.ticket_id, status=delivery.status,
            occurred_at=delivery.occurred_at, next_attempt_at=delivery.next_attempt_at,
            delivered_at=delivery.delivered_at,
            attempts=[AttemptOut(**attempt) for attempt in delivery.attempts],
            body=json.loads(delivery.body) if delivery.body else None,
        )


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    page: int
    per_page: int
    total: int
    next_page: int | None


class DeliveryQuery(PageQuery):
    status: DeliveryStatus | None = None

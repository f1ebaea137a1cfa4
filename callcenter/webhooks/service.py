"""Webhooks and their deliveries: the outbox written with each ticket change, the claim
an attempt takes, what an attempt leaves in the log, and the backoff between attempts.

A delivery row is written inside the transaction that changed the ticket (a
`unit_of_work.before_commit` handler), so a change that commits always has its
deliveries and one that rolls back never does; the worker posts them after the commit.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy import update as sa_update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from callcenter import unit_of_work
from callcenter.audit import service as audit
from callcenter.db import utcnow
from callcenter.tickets.triggers import NOTIFY_EVENT
from callcenter.webhooks import signing
from callcenter.webhooks.models import (
    FROM_BUS,
    DeliveryStatus,
    Webhook,
    WebhookDelivery,
    WebhookEvent,
)

# The job that posts deliveries (`callcenter.flows.webhook_delivery`).
DELIVER = "webhooks.deliver"
# Waits after each failed attempt: 9 attempts over about a day, then the delivery fails.
BACKOFF = (
    dt.timedelta(seconds=30), dt.timedelta(minutes=2), dt.timedelta(minutes=10),
    dt.timedelta(minutes=30), dt.timedelta(hours=1), dt.timedelta(hours=2),
    dt.timedelta(hours=4), dt.timedelta(hours=8),
)
# An attempt holds its delivery this long; a worker that dies mid-attempt frees it then.
LEASE = dt.timedelta(seconds=60)
# Delivered rows kept in the log this long.
KEEP_DELIVERED = dt.timedelta(days=30)
SUBSCRIBABLE = [
    event for event in WebhookEvent
    if event not in (WebhookEvent.ping, WebhookEvent.trigger_notified)
]



class WebhookError(ValueError):
    """A webhook that cannot be saved, and why."""


def _check_url(url: str) -> str:
    url = url.strip()
    if not url.lower().startswith(("http://", "https://")) or len(url) < 10:
        raise WebhookError("The URL must start with http:// or https://.")
    return url


def _check_events(names: list[str]) -> list[str]:
    known = {event.value for event in SUBSCRIBABLE}
    unknown = sorted(set(names) - known)
    if unknown:
        raise WebhookError(f"Unknown events: {', '.join(unknown)}.")
    if not names:
        raise WebhookError("Choose at least one event.")
    return sorted(set(names))


async def create(
    session: AsyncSession, *, name: str, url: str, events: list[str], actor_id: int | None
) -> Webhook:
    webhook = Webhook(
        name=name.strip()[:100] or "Webhook", url=_check_url(url), events=_check_events(events),
        secret=signing.new_secret(), active=True, created_by_id=actor_id,
    )
    session.add(webhook)
    await session.flush()
    await audit.record(
        session, action="webhook.created", actor_id=actor_id, target=f"webhook:{webhook.id}",
        details={"url": webhook.url, "events": webhook.events},
    )
    return webhook


async def change(
    session: AsyncSession,
    *,
    webhook: Webhook,
    actor_id: int | None,
    name: str | None = None,
    url: str | None = None,
    events: list[str] | None = None,
    active: bool | None = None,
    rotate_secret: bool = False,
) -> Webhook:
    details: dict[str, Any] = {}
    if name is not None and name.strip() and name.strip() != webhook.name:
        webhook.name = details["name"] = name.strip()[:100]
    if url is not None and _check_url(url) != webhook.url:
        webhook.url = details["url"] = _check_url(url)
    if events is not None and _check_events(events) != webhook.events:
        webhook.events = details["events"] = _check_events(events)
    if active is not None and active != webhook.active:
        webhook.active = details["active"] = active
        if active:  # what waited while it was paused goes now
            await session.execute(
                sa_update(WebhookDelivery)
                .where(WebhookDelivery.webhook_id == webhook.id,
                       WebhookDelivery.status == DeliveryStatus.pending)
                .values(next_attempt_at=utcnow())
                .execution_options(synchronize_session=False)
            )
    if rotate_secret:
        webhook.secret = signing.new_secret()
        details["secret"] = "rotated"
    if details:
        await session.flush()
        await audit.record(
            session, action="webhook.changed", actor_id=actor_id,
            target=f"webhook:{webhook.id}", details=details,
        )
    return webhook


async def remove(session: AsyncSession, *, webhook: Webhook, actor_id: int | None) -> None:
    """The webhook and its log go; the audit log keeps where it posted."""
    await audit.record(
        session, action="webhook.removed", actor_id=actor_id, target=f"webhook:{webhook.id}",
        details={"url": webhook.url},
    )
    await session.delete(webhook)
    await session.flush()


async def get(session: AsyncSession, *, webhook_id: int) -> Webhook | None:
    return await session.get(Webhook, webhook_id)


async def list_webhooks(session: AsyncSession) -> list[Webhook]:
    return list(await session.scalars(select(Webhook).order_by(Webhook.id)))


async def get_delivery(session: AsyncSession, *, delivery_id: int) -> WebhookDelivery | None:
    return await session.get(WebhookDelivery, delivery_id)


async def deliveries(
    session: AsyncSession,
    *,
    webhook_id: int,
    status: DeliveryStatus | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[WebhookDelivery], int]:
    """A webhook's log, newest first, and how many rows match."""
    where = [WebhookDelivery.webhook_id == webhook_id]
    if status is not None:
        where.append(WebhookDelivery.status == status)
    total = await session.scalar(select(func.count()).select_from(WebhookDelivery).where(*where))
    found = await session.scalars(
        select(WebhookDelivery).where(*where).order_by(WebhookDelivery.id.desc())
        .offset(offset).limit(limit)
    )
    return list(found), total or 0


async def counts(session: AsyncSession) -> dict[tuple[int, DeliveryStatus], int]:
    """Deliveries per webhook and status, for the admin page."""
    rows = await session.execute(
        select(WebhookDelivery.webhook_id, WebhookDelivery.status, func.count())
        .group_by(WebhookDelivery.webhook_id, WebhookDelivery.status)
    )
    return {(webhook_id, status): count for webhook_id, status, count in rows}


def _delivery(
    webhook_id: int, event: WebhookEvent, data: dict[str, Any], at: dt.datetime,
    extra: dict[str, Any] | None = None,
) -> WebhookDelivery:
    return WebhookDelivery(
        uid=uuid.uuid4().hex, webhook_id=webhook_id, event=event,
        ticket_id=data.get("ticket_id"), ticket_event_id=data.get("event_id"), occurred_at=at,
        status=DeliveryStatus.pending, next_attempt_at=at, attempts=[], extra=extra or {},
    )


@unit_of_work.before_commit
def write_outbox(session: Session, recorded: list[Any]) -> None:
    """Deliveries for the ticket events this commit recorded, to every active webhook that
    wants them, and for each trigger notification to the webhook it names, in the same
    transaction. A ticket updated twice in one commit is one delivery. Costs nothing but
    this check when the commit changed no ticket, and one small read when it did."""
    wanted: dict[tuple[WebhookEvent, int | None, int | None], dict[str, Any]] = {}
    notices = [item.data for item in recorded if item.name == NOTIFY_EVENT]
    for item in recorded:
        kind = FROM_BUS.get(item.name)
        if kind is not None:
            wanted.setdefault((kind, item.data.get("ticket_id"), item.data.get("event_id")),
                              item.data)
    if not wanted and not notices:
        return
    hooks = session.execute(
        select(Webhook.id, Webhook.name, Webhook.events).where(Webhook.active)
    ).all()
    now = utcnow()
    made = [
        _delivery(webhook_id, kind, data, now)
        for webhook_id, _name, names in hooks
        for (kind, _ticket, _event), data in wanted.items()
        if kind.value in names
    ]
    by_name = {name: webhook_id for webhook_id, name, _names in hooks}
    made += [
        _delivery(by_name[notice["webhook"]], WebhookEvent.trigger_notified, notice, now,
                  {"trigger": notice["trigger"], "message": notice["message"]})
        for notice in notices if notice["webhook"] in by_name
    ]
    if not made:
        return
    session.add_all(made)
    session.flush()
    queue = session.info.get(unit_of_work.JOBS)
    if queue is not None:
        queue.after_commit(session, DELIVER, delivery_ids=[delivery.id for delivery in made])


async def ping(session: AsyncSession, *, webhook: Webhook) -> WebhookDelivery:
    """A test delivery, posted like any other (and logged)."""
    delivery = _delivery(webhook.id, WebhookEvent.ping, {}, utcnow())
    session.add(delivery)
    await session.flush()
    _queue_after_commit(session, [delivery.id])
    return delivery


async def send_again(session: AsyncSession, *, delivery: WebhookDelivery) -> WebhookDelivery:
    """A failed (or pending) delivery, due now, with its attempts so far kept in the log."""
    if delivery.status is not DeliveryStatus.delivered:
        delivery.status = DeliveryStatus.pending
        delivery.next_attempt_at = utcnow()
        await session.flush()
        _queue_after_commit(session, [delivery.id])
    return delivery


def _queue_after_commit(session: AsyncSession, delivery_ids: list[int]) -> None:
    queue = session.info.get(unit_of_work.JOBS)
    if queue is not None:
        queue.after_commit(session, DELIVER, delivery_ids=delivery_ids)


async def claim(session: AsyncSession, *, delivery_id: int) -> WebhookDelivery | None:
    """Take a due delivery for one attempt (its lease pushes the due time on), or None if
    it is not due, delivered, failed, or another worker holds it: one statement, so two
    workers never post the same attempt."""
    now = utcnow()
    taken = await session.execute(
        sa_update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == DeliveryStatus.pending,
            WebhookDelivery.next_attempt_at <= now,
        )
        .values(next_attempt_at=now + LEASE)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:
        return None
    delivery = await session.get(WebhookDelivery, delivery_id, populate_existing=True)
    return delivery


def record_attempt(
    delivery: WebhookDelivery,
    *,
    at: dt.datetime,
    status_code: int | None,
    error: str | None,
    ms: int,
    response: str = "",
) -> dt.timedelta | None:
    """Log one attempt; 2xx delivers, anything else waits its backoff or, after the last,
    fails. Answers the wait before the next attempt (None: no further attempt)."""
    attempt = {
        "at": at.isoformat(), "status_code": status_code, "error": error, "ms": ms,
        "response": response[:500],
    }
    delivery.attempts = [*delivery.attempts, attempt]
    if status_code is not None and 200 <= status_code < 300:
        delivery.status = DeliveryStatus.delivered
        delivery.delivered_at = at
        delivery.next_attempt_at = None
        return None
    failures = sum(1 for past in delivery.attempts if not _succeeded(past))
    if failures > len(BACKOFF):
        delivery.status = DeliveryStatus.failed
        delivery.next_attempt_at = None
        return None
    wait = BACKOFF[failures - 1]
    delivery.next_attempt_at = at + wait
    return wait


def _succeeded(attempt: dict[str, Any]) -> bool:
    code = attempt.get("status_code")
    return code is not None and 200 <= code < 300


async def due(session: AsyncSession, *, limit: int = 500) -> list[int]:
    """Pending deliveries whose time has come: what the worker's sweep posts (a lost job,
    a worker that died mid-attempt)."""
    found = await session.scalars(
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.status == DeliveryStatus.pending,
            WebhookDelivery.next_attempt_at <= utcnow(),
        )
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
    )
    return list(found)


async def forget_delivered(session: AsyncSession) -> int:
    """Drop delivered rows older than the log keeps them."""
    gone = await session.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.status == DeliveryStatus.delivered,
            WebhookDelivery.delivered_at < utcnow() - KEEP_DELIVERED,
        )
    )
    return gone.rowcount or 0

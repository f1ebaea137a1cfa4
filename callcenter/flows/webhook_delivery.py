"""Posting webhook deliveries: the worker's job after a ticket change commits, its retries
with backoff, and the minute sweep that catches any delivery a lost job left behind.

Each attempt claims its delivery in a short transaction, posts outside any transaction
(a slow receiver holds no lock), and logs the answer in another. The body is the ticket
as the API shows it (and the timeline entry, for `ticket.event_added`), fixed at the first
attempt so every retry sends the same bytes; a receiver drops repeats by the delivery id.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from typing import Any

import aiohttp

from callcenter import jobs
from callcenter.db import transaction, utcnow
from callcenter.flows import Telephony
from callcenter.tickets import service as tickets
from callcenter.tickets.schemas import EventOut, TicketOut
from callcenter.webhooks import service as webhooks
from callcenter.webhooks import signing
from callcenter.webhooks.models import WebhookDelivery, WebhookEvent

log = logging.getLogger("callcenter.webhooks")

TIMEOUT_SECONDS = 10
# Posts at once from one job or sweep: a slow receiver does not hold up the rest for long.
PARALLEL = 8
# A paused webhook's deliveries wait this long before they are looked at again.
PAUSED_WAIT = dt.timedelta(hours=1)
USER_AGENT = "callcenter-webhooks/1"


async def _body(session: Any, delivery: WebhookDelivery, *, base_url: str) -> str:
    data: dict[str, Any] = {}
    if delivery.ticket_id is not None:
        ticket = await tickets.get_ticket(session, ticket_id=delivery.ticket_id)
        if ticket is not None:
            data["ticket"] = TicketOut.of(ticket, now=utcnow()).model_dump(mode="json")
            data["url"] = f"{base_url}/tickets/{ticket.id}"
    if delivery.ticket_event_id is not None:
        entry = await tickets.get_event(session, event_id=delivery.ticket_event_id)
        if entry is not None:
            data["event"] = EventOut.of(entry).model_dump(mode="json")
    data.update(delivery.extra or {})
    if delivery.event is WebhookEvent.ping:
        data["message"] = "A test delivery from callcenter."
    return json.dumps({
        "id": delivery.uid, "type": delivery.event.value,
        "occurred_at": delivery.occurred_at.isoformat(), "data": data,
    }, separators=(",", ":"))


async def deliver(
    tel: Telephony, client: aiohttp.ClientSession, *, delivery_id: int
) -> dt.timedelta | None:
    """One attempt at one delivery, if it is due and nobody else holds it. Answers the
    wait before the next attempt, when one is needed."""
    async with transaction(tel.sessionmaker) as session:
        delivery = await webhooks.claim(session, delivery_id=delivery_id)
        if delivery is None:
            return None
        webhook = await webhooks.get(session, webhook_id=delivery.webhook_id)
        if webhook is None:
            return None
        if not webhook.active:
            delivery.next_attempt_at = utcnow() + PAUSED_WAIT
            return None
        if delivery.body is None:
            delivery.body = await _body(session, delivery, base_url=tel.urls.base)
        body, url, secret, uid = delivery.body.encode(), webhook.url, webhook.secret, delivery.uid
        event = delivery.event.value
    started, at = time.monotonic(), utcnow()
    status_code: int | None = None
    error: str | None = None
    response = ""
    try:
        async with client.post(
            url, data=body, allow_redirects=False,
            headers={
                "Content-Type": "application/json", "User-Agent": USER_AGENT,
                signing.HEADER: signing.sign(secret, body), "X-Callcenter-Event": event,
                "X-Callcenter-Delivery": uid,
            },
        ) as answer:
            status_code = answer.status
            response = (await answer.content.read(500)).decode("utf-8", "replace")
    except (aiohttp.ClientError, TimeoutError, ValueError) as failure:
        error = str(failure) or type(failure).__name__
    ms = round((time.monotonic() - started) * 1000)
    async with transaction(tel.sessionmaker) as session:
        delivery = await webhooks.get_delivery(session, delivery_id=delivery_id)
        if delivery is None:
            return None  # the webhook was removed meanwhile
        wait = webhooks.record_attempt(
            delivery, at=at, status_code=status_code, error=error, ms=ms, response=response
        )
    log.info("webhooks.attempt", extra={
        "delivery": delivery_id, "status_code": status_code, "error": error, "ms": ms,
    })
    return wait


async def deliver_all(tel: Telephony, delivery_ids: list[int]) -> None:
    """Attempt each delivery (a few at a time); each failed one is queued again after its
    backoff (the sweep would find it anyway, a minute late at most)."""
    limit = asyncio.Semaphore(PARALLEL)
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)

    async with aiohttp.ClientSession(timeout=timeout) as client:

        async def one(delivery_id: int) -> None:
            async with limit:
                wait = await deliver(tel, client, delivery_id=delivery_id)
            if wait is not None and tel.jobs is not None:
                await tel.jobs.enqueue(
                    webhooks.DELIVER, delay=wait.total_seconds(), delivery_ids=[delivery_id]
                )

        await asyncio.gather(*(one(delivery_id) for delivery_id in delivery_ids))


@jobs.job(webhooks.DELIVER)
async def deliver_job(tel: Telephony, *, delivery_ids: list[int]) -> None:
    await deliver_all(tel, delivery_ids)


async def sweep(tel: Telephony) -> int:
    """The worker's minute round: every delivery that is due, and the old log dropped."""
    async with transaction(tel.sessionmaker) as session:
        found = await webhooks.due(session)
        await webhooks.forget_delivered(session)
    if found:
        await deliver_all(tel, found)
    return len(found)

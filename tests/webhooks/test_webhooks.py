"""Outgoing webhooks as a CRM meets them: signed posts of ticket events, retried with
backoff while the receiver fails, the same body and delivery id every time, nothing for a
change that rolled back, and a log an admin reads. The receiver is a real HTTP server."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from builders import make_token, make_user
from quart import Quart
from quart.testing import QuartClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter import jobs
from callcenter.accounts.models import Role
from callcenter.audit.models import AuditEntry
from callcenter.customers import service as customers
from callcenter.db import utcnow
from callcenter.flows import webhook_delivery
from callcenter.tickets import service as tickets
from callcenter.tickets.models import Channel, TicketEventKind, Trigger
from callcenter.webhooks import service as webhooks
from callcenter.webhooks import signing
from callcenter.webhooks.models import DeliveryStatus, WebhookDelivery


@dataclass
class Receiver:
    """A CRM's endpoint: answers `answers` in turn (then 200) and keeps what it got."""

    url: str = ""
    answers: list[int] = field(default_factory=list)
    got: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()

    async def hook(request: web.Request) -> web.Response:
        found.got.append((dict(request.headers), await request.read()))
        return web.Response(status=found.answers.pop(0) if found.answers else 200, text="ok")

    application = web.Application()
    application.router.add_post("/hooks", hook)
    runner = web.AppRunner(application)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    found.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hooks"
    yield found
    await runner.cleanup()


async def _admin(session: AsyncSession) -> dict[str, str]:
    token = await make_token(session, user=await make_user(session, role=Role.admin))
    await session.commit()
    return {"Authorization": f"Bearer {token}"}


async def _hook(client: QuartClient, headers: dict[str, str], url: str, **fields: Any) -> dict:
    made = await client.post("/api/webhooks", headers=headers, json={
        "name": fields.pop("name", "CRM"), "url": url,
        "events": ["ticket.created", "ticket.updated", "ticket.event_added"], **fields})
    assert made.status_code == 201, await made.get_data(as_text=True)
    return await made.get_json()


async def _sweep(app: Quart) -> int:
    return await webhook_delivery.sweep(app.extensions["callcenter"].telephony)


async def _deliveries(session: AsyncSession) -> list[WebhookDelivery]:
    await session.rollback()
    return list(await session.scalars(
        select(WebhookDelivery).order_by(WebhookDelivery.id)
        .execution_options(populate_existing=True)))


async def _make_due(session: AsyncSession) -> None:
    await session.execute(update(WebhookDelivery).values(
        next_attempt_at=utcnow() - dt.timedelta(seconds=1)))
    await session.commit()


async def test_a_new_ticket_is_posted_signed_with_the_ticket_as_the_api_shows_it(
    app: Quart, client: QuartClient, db_session: AsyncSession, receiver: Receiver
):
    admin = await _admin(db_session)
    hook = await _hook(client, admin, receiver.url)
    made = await client.post("/api/tickets", headers=admin, json={
        "subject": "Refund for order 1001", "body": "Please refund it.",
        "requester": "buyer@example.com"})
    assert made.status_code == 201
    ticket = await made.get_json()

    assert await _sweep(app) == 1
    assert len(receiver.got) == 1
    headers, body = receiver.got[0]
    assert signing.verify(hook["secret"], body, headers[signing.HEADER])
    assert not signing.verify("whsec_wrong", body, headers[signing.HEADER])
    posted = json.loads(body)
    assert posted["type"] == "ticket.created" == headers["X-Callcenter-Event"]
    assert posted["id"] == headers["X-Callcenter-Delivery"]
    assert posted["data"]["ticket"]["id"] == ticket["id"]
    assert posted["data"]["ticket"]["subject"] == "Refund for order 1001"
    assert posted["data"]["url"].endswith(f"/tickets/{ticket['id']}")
    [delivery] = await _deliveries(db_session)
    assert delivery.status is DeliveryStatus.delivered and len(delivery.attempts) == 1
    assert await _sweep(app) == 0 and len(receiver.got) == 1  # delivered once

    # An agent's change is another event; the log shows both, newest first.
    changed = await client.patch(f"/api/tickets/{ticket['id']}", headers=admin,
                                 json={"priority": "urgent"})
    assert changed.status_code == 200
    await _sweep(app)
    assert json.loads(receiver.got[-1][1])["data"]["ticket"]["priority"] == "urgent"
    listed = await client.get(f"/api/webhooks/{hook['id']}/deliveries", headers=admin)
    log = await listed.get_json()
    assert [row["event"] for row in log["items"]] == ["ticket.updated", "ticket.created"]
    assert log["items"][0]["attempts"][0]["status_code"] == 200


async def test_a_failing_receiver_is_retried_with_backoff_and_the_same_body(
    app: Quart, client: QuartClient, db_session: AsyncSession, receiver: Receiver
):
    admin = await _admin(db_session)
    await _hook(client, admin, receiver.url, events=["ticket.created"])
    receiver.answers = [500, 503]
    await client.post("/api/tickets", headers=admin, json={
        "subject": "Down", "body": "It is down.", "requester": "a@example.com"})

    before = utcnow()
    await _sweep(app)
    [delivery] = await _deliveries(db_session)
    assert delivery.status is DeliveryStatus.pending
    wait = (delivery.next_attempt_at - before).total_seconds()
    assert 29 <= wait <= 35, wait
    assert await _sweep(app) == 0  # not due yet: nothing posted
    await _make_due(db_session)
    await _sweep(app)
    [delivery] = await _deliveries(db_session)
    wait = (delivery.next_attempt_at - utcnow()).total_seconds()
    assert 110 <= wait <= 121, wait  # the second wait is longer
    await _make_due(db_session)
    await _sweep(app)

    [delivery] = await _deliveries(db_session)
    assert delivery.status is DeliveryStatus.delivered
    assert [a["status_code"] for a in delivery.attempts] == [500, 503, 200]
    bodies = {body for _headers, body in receiver.got}
    uids = {headers["X-Callcenter-Delivery"] for headers, _body in receiver.got}
    assert len(receiver.got) == 3 and len(bodies) == 1 and len(uids) == 1


async def test_a_receiver_that_never_answers_fails_and_an_admin_sends_it_again(
    app: Quart, client: QuartClient, db_session: AsyncSession, receiver: Receiver
):
    admin = await _admin(db_session)
    dead = await _hook(client, admin, "http://127.0.0.1:9/nobody-listens",
                       events=["ticket.created"])
    await client.post("/api/tickets", headers=admin, json={
        "subject": "Hello", "body": "Hi.", "requester": "b@example.com"})
    for _ in range(len(webhooks.BACKOFF) + 1):
        await _make_due(db_session)
        await _sweep(app)
    [delivery] = await _deliveries(db_session)
    assert delivery.status is DeliveryStatus.failed
    assert len(delivery.attempts) == len(webhooks.BACKOFF) + 1
    assert all(a["status_code"] is None and a["error"] for a in delivery.attempts)
    assert await _sweep(app) == 0  # failed: left alone

    # The admin points it at the working receiver and sends it again.
    moved = await client.patch(f"/api/webhooks/{dead['id']}", headers=admin,
                               json={"url": receiver.url})
    assert moved.status_code == 200
    again = await client.post(f"/api/webhook-deliveries/{delivery.id}/retry", headers=admin)
    assert again.status_code == 202
    await _sweep(app)
    [delivery] = await _deliveries(db_session)
    assert delivery.status is DeliveryStatus.delivered and len(receiver.got) == 1


async def test_only_committed_changes_and_chosen_events_are_sent(
    app: Quart, client: QuartClient, db_session: AsyncSession, receiver: Receiver
):
    admin = await _admin(db_session)
    await _hook(client, admin, receiver.url, events=["ticket.event_added"])
    paused = await _hook(client, admin, receiver.url)
    assert (await client.patch(f"/api/webhooks/{paused['id']}", headers=admin,
                               json={"active": False})).status_code == 200

    sessionmaker = app.extensions["callcenter"].sessionmaker
    async with sessionmaker() as session:  # a contact whose transaction rolls back
        customer = await customers.create_named(session, name="Ann")
        await tickets.add_contact(session, customer_id=customer.id, channel=Channel.web,
                                  kind=TicketEventKind.web, subject="x", body="y")
        await session.rollback()
    assert await _deliveries(db_session) == []

    async with sessionmaker() as session:
        customer = await customers.create_named(session, name="Bo")
        event = await tickets.add_contact(
            session, customer_id=customer.id, channel=Channel.web,
            kind=TicketEventKind.web, subject="Question", body="Where is my order?")
        await session.commit()
    # Only the active webhook's chosen event: the paused one waits for nothing it was
    # never sent, and ticket.created was not chosen.
    [delivery] = await _deliveries(db_session)
    assert delivery.event.value == "ticket.event_added"
    await _sweep(app)
    posted = json.loads(receiver.got[0][1])
    assert posted["data"]["event"]["id"] == event.id
    assert posted["data"]["event"]["body"] == "Where is my order?"


async def test_webhooks_are_for_admins_and_audited(
    client: QuartClient, db_session: AsyncSession, receiver: Receiver
):
    token = await make_token(db_session, user=await make_user(db_session, role=Role.supervisor))
    await db_session.commit()
    supervisor = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/webhooks", headers=supervisor)).status_code == 403
    assert (await client.post("/api/webhooks", headers=supervisor, json={
        "name": "x", "url": receiver.url, "events": ["ticket.created"]})).status_code == 403
    admin = await _admin(db_session)
    bad = await client.post("/api/webhooks", headers=admin, json={
        "name": "x", "url": "ftp://example.com/x", "events": ["ticket.created"]})
    assert bad.status_code == 422
    assert "http" in (await bad.get_json())["error"]["message"]
    hook = await _hook(client, admin, receiver.url)
    rotated = await (await client.patch(f"/api/webhooks/{hook['id']}", headers=admin,
                                        json={"rotate_secret": True})).get_json()
    assert rotated["secret"] != hook["secret"]
    assert (await client.delete(f"/api/webhooks/{hook['id']}", headers=admin)).status_code == 200
    await db_session.rollback()
    actions = list(await db_session.scalars(
        select(AuditEntry.action).where(AuditEntry.action.like("webhook.%"))
        .order_by(AuditEntry.id)))
    assert actions == ["webhook.created", "webhook.changed", "webhook.removed"]


def test_a_signature_is_refused_when_old_or_tampered():
    body = b'{"id":"1"}'
    header = signing.sign("whsec_x", body, timestamp=1_000_000)
    assert signing.verify("whsec_x", body, header, now=1_000_100)
    assert not signing.verify("whsec_x", body, header, now=1_000_000 + 301)  # replayed late
    assert not signing.verify("whsec_x", body + b" ", header, now=1_000_100)
    assert not signing.verify("whsec_x", body, "v1=abc", now=1_000_100)


def _queued(app: Quart) -> list[tuple[list[int], dt.datetime | None]]:
    """The delivery jobs waiting in the worker's queue: (delivery ids, when due)."""
    huey = app.extensions["callcenter"].telephony.jobs.huey
    return [
        (task.args[1]["delivery_ids"], task.eta)
        for task in [*huey.pending(), *huey.scheduled()]
        if task.args[0] == webhooks.DELIVER
    ]


async def test_the_commit_queues_the_workers_job_and_a_failure_queues_its_retry(
    app: Quart, client: QuartClient, db_session: AsyncSession, receiver: Receiver
):
    admin = await _admin(db_session)
    await _hook(client, admin, receiver.url, events=["ticket.created"])
    receiver.answers = [502]
    await client.post("/api/tickets", headers=admin, json={
        "subject": "Hi", "body": "Hello.", "requester": "c@example.com"})
    [delivery] = await _deliveries(db_session)
    [(ids, eta)] = _queued(app)  # queued by the commit, due at once
    assert ids == [delivery.id]
    assert eta is None or (eta - dt.datetime.now(dt.UTC).replace(tzinfo=None)).total_seconds() < 2

    telephony = app.extensions["callcenter"].telephony
    huey = telephony.jobs.huey
    huey.flush()
    await jobs.run(webhooks.DELIVER, telephony, {"delivery_ids": [delivery.id]})
    [(ids, retry_at)] = _queued(app)  # the retry, queued for after its backoff
    assert ids == [delivery.id] and retry_at is not None
    assert 25 <= (retry_at - dt.datetime.now(dt.UTC).replace(tzinfo=None)).total_seconds() <= 35
    await _make_due(db_session)
    await jobs.run(webhooks.DELIVER, telephony, {"delivery_ids": [delivery.id]})
    [delivery] = await _deliveries(db_session)
    assert delivery.status is DeliveryStatus.delivered and len(receiver.got) == 2


async def test_a_trigger_notifies_the_webhook_it_names(
    app: Quart, client: QuartClient, db_session: AsyncSession, receiver: Receiver
):
    admin = await _admin(db_session)
    # The CRM only wants updates; a trigger naming it is sent whatever it chose.
    await _hook(client, admin, receiver.url, name="Refunds desk", events=["ticket.updated"])
    db_session.add(Trigger(
        name="Refunds go to the refunds desk", on_update=False,
        conditions={"all": [{"field": "text", "op": "contains", "value": "refund"}]},
        actions=[{"add_tags": ["refund"]},
                 {"notify": "webhook", "webhook": "Refunds desk", "message": "A refund!"},
                 {"notify": "webhook", "webhook": "Nobody by that name"}],
    ))
    await db_session.commit()
    await client.post("/api/tickets", headers=admin, json={
        "subject": "Order 7", "body": "I want a REFUND please", "requester": "r@example.com"})
    await client.post("/api/tickets", headers=admin, json={
        "subject": "Order 8", "body": "Where is it?", "requester": "s@example.com"})

    [delivery] = await _deliveries(db_session)
    assert delivery.event.value == "trigger.notified"
    await _sweep(app)
    posted = json.loads(receiver.got[0][1])
    assert posted["type"] == "trigger.notified"
    assert posted["data"]["trigger"] == "Refunds go to the refunds desk"
    assert posted["data"]["message"] == "A refund!"
    assert posted["data"]["ticket"]["subject"] == "Order 7"
    assert posted["data"]["ticket"]["tags"] == ["refund"]  # what the trigger did, too


async def test_a_notice_that_cannot_be_sent_stops_its_trigger_not_the_ticket(
    client: QuartClient, db_session: AsyncSession
):
    admin = await _admin(db_session)
    db_session.add(Trigger(
        name="Broken", conditions={}, actions=[{"add_tags": ["seen"]}, {"notify": "pager"}]))
    await db_session.commit()
    made = await client.post("/api/tickets", headers=admin, json={
        "subject": "Hello", "body": "Hi", "requester": "t@example.com"})
    assert made.status_code == 201
    assert "seen" not in (await made.get_json())["tags"]
    assert await _deliveries(db_session) == []

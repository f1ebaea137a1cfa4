"""Webhooks for admins: the API (`/api/webhooks`, each webhook's delivery log, a test
send, sending a failed delivery again) and the page, `/admin/webhooks`."""

from __future__ import annotations

from quart import Blueprint, render_template
from quart_schema import (
    hide,
    tag_blueprint,
    validate_querystring,
    validate_request,
    validate_response,
)

from callcenter import api
from callcenter.accounts.auth import current_user, require_role
from callcenter.accounts.models import Role
from callcenter.errors import refusing
from callcenter.http.context import db
from callcenter.webhooks import service as webhooks
from callcenter.webhooks.models import Webhook, WebhookDelivery
from callcenter.webhooks.schemas import (
    DeliveryOut,
    DeliveryPage,
    DeliveryQuery,
    WebhookIn,
    WebhookList,
    WebhookOut,
    WebhookPatch,
)

bp = Blueprint("webhooks", __name__)
tag_blueprint(bp, ["webhooks"])
PAGE_LOG = 50


def _actor_id() -> int | None:
    user = current_user()
    return user.id if user is not None else None


async def _webhook_or_404(webhook_id: int) -> Webhook:
    return await api.found(lambda i: webhooks.get(db(), webhook_id=i), webhook_id, "webhook")


async def _delivery_or_404(delivery_id: int) -> WebhookDelivery:
    return await api.found(
        lambda i: webhooks.get_delivery(db(), delivery_id=i), delivery_id, "delivery"
    )


@bp.get("/api/webhooks")
@require_role(Role.admin)
@validate_response(WebhookList, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
async def list_webhooks() -> WebhookList:
    return WebhookList(items=[WebhookOut.of(w) for w in await webhooks.list_webhooks(db())])


@bp.post("/api/webhooks")
@require_role(Role.admin)
@validate_request(WebhookIn)
@validate_response(WebhookOut, 201)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 422)
async def create_webhook(data: WebhookIn) -> tuple[WebhookOut, int]:
    """Post the chosen ticket events to `url`, signed with a new secret (in the answer).
    Audited."""
    with refusing(webhooks.WebhookError):
        made = await webhooks.create(
            db(), name=data.name, url=data.url, events=[e.value for e in data.events],
            actor_id=_actor_id(),
        )
    return WebhookOut.of(made), 201


@bp.patch("/api/webhooks/<int:webhook_id>")
@require_role(Role.admin)
@validate_request(WebhookPatch)
@validate_response(WebhookOut, 200)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
@validate_response(api.ErrorOut, 422)
async def change_webhook(webhook_id: int, data: WebhookPatch) -> WebhookOut:
    """Rename, move, change events, pause or resume, rotate the secret. Audited."""
    found = await _webhook_or_404(webhook_id)
    with refusing(webhooks.WebhookError):
        await webhooks.change(
            db(), webhook=found, actor_id=_actor_id(), name=data.name, url=data.url,
            events=[e.value for e in data.events] if data.events is not None else None,
            active=data.active, rotate_secret=data.rotate_secret,
        )
    return WebhookOut.of(found)


@bp.delete("/api/webhooks/<int:webhook_id>")
@require_role(Role.admin)
@validate_response(WebhookOut, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
async def remove_webhook(webhook_id: int) -> WebhookOut:
    """The webhook and its delivery log go. Audited. Answers what it was."""
    found = await _webhook_or_404(webhook_id)
    out = WebhookOut.of(found)
    await webhooks.remove(db(), webhook=found, actor_id=_actor_id())
    return out


@bp.post("/api/webhooks/<int:webhook_id>/ping")
@require_role(Role.admin)
@validate_response(DeliveryOut, 202)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
async def ping_webhook(webhook_id: int) -> tuple[DeliveryOut, int]:
    """Send a test delivery (`ping`) now; its result shows in the log."""
    delivery = await webhooks.ping(db(), webhook=await _webhook_or_404(webhook_id))
    return DeliveryOut.of(delivery), 202


@bp.get("/api/webhooks/<int:webhook_id>/deliveries")
@require_role(Role.admin)
@validate_querystring(DeliveryQuery)
@validate_response(DeliveryPage, 200)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
async def list_deliveries(webhook_id: int, query_args: DeliveryQuery) -> DeliveryPage:
    """The webhook's delivery log, newest first: each attempt's answer, time and error."""
    found = await _webhook_or_404(webhook_id)
    offset, limit = api.page_bounds(query_args.page, query_args.per_page)
    rows, total = await webhooks.deliveries(
        db(), webhook_id=found.id, status=query_args.status, offset=offset, limit=limit
    )
    return DeliveryPage(
        items=[DeliveryOut.of(row) for row in rows], page=query_args.page,
        per_page=query_args.per_page, total=total,
        next_page=api.next_page(query_args.page, query_args.per_page, total),
    )


@bp.post("/api/webhook-deliveries/<int:delivery_id>/retry")
@require_role(Role.admin)
@validate_response(DeliveryOut, 202)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
async def retry_delivery(delivery_id: int) -> tuple[DeliveryOut, int]:
    """Send a failed or waiting delivery again now (a delivered one stays as it is)."""
    delivery = await webhooks.send_again(db(), delivery=await _delivery_or_404(delivery_id))
    return DeliveryOut.of(delivery), 202


@bp.get("/admin/webhooks")
@hide
@require_role(Role.admin)
async def webhooks_page() -> str:
    found = await webhooks.list_webhooks(db())
    logs = {
        webhook.id: (await webhooks.deliveries(db(), webhook_id=webhook.id, limit=PAGE_LOG))[0]
        for webhook in found
    }
    return await render_template(
        "webhooks/webhooks.html", webhooks=found, logs=logs, counts=await webhooks.counts(db()),
        events=webhooks.SUBSCRIBABLE,
    )

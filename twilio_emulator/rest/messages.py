"""REST Messages: create (Body up to 1600 characters), fetch and list."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..engine import Engine
from ..messages import MAX_BODY, Message, OptedOut
from .common import API, bad_request, date, engine_of, form, json, not_found, one, page


def message_json(engine: Engine, m: Message) -> dict[str, Any]:
    base = f"/2010-04-01/Accounts/{engine.account_sid}/Messages/{m.sid}"
    return {
        "body": m.body, "num_segments": str(m.segments), "direction": m.direction,
        "from": m.from_ or None, "to": m.to, "date_updated": date(engine, m.updated),
        "price": None, "error_message": None, "uri": base + ".json",
        "account_sid": engine.account_sid, "num_media": "0", "status": m.status,
        "messaging_service_sid": m.messaging_service_sid, "sid": m.sid,
        "date_sent": date(engine, m.sent), "date_created": date(engine, m.created),
        "error_code": None, "price_unit": "USD", "api_version": "2010-04-01",
        "subresource_uris": {"media": base + "/Media.json", "feedback": base + "/Feedback.json"},
    }


async def create(request: web.Request) -> web.Response:
    engine = engine_of(request)
    data = await form(request)
    to, from_ = one(data, "To"), one(data, "From")
    service = one(data, "MessagingServiceSid")
    body = one(data, "Body")
    if not to:
        raise bad_request(21604, "A 'To' phone number is required.")
    if not from_ and not service:
        raise bad_request(21603, "A 'From' phone number is required.")
    if not body and not data.getall("MediaUrl", []):
        raise bad_request(21602, "Message body is required.")
    if body and len(body) > MAX_BODY:
        raise bad_request(21617, "The concatenated message body exceeds the 1600 character "
                                 "limit.")
    try:
        msg = engine.messages.send(from_ or "", to, body or "", service,
                                   one(data, "StatusCallback"))
    except OptedOut:
        raise bad_request(21610, "Attempt to send to unsubscribed recipient") from None
    return json(message_json(engine, msg), 201)


async def fetch(request: web.Request) -> web.Response:
    engine = engine_of(request)
    msg = engine.messages.by_sid.get(request.match_info["Sid"])
    if msg is None:
        raise not_found(request)
    return json(message_json(engine, msg))


async def list_messages(request: web.Request) -> web.Response:
    engine = engine_of(request)
    q = request.query
    filters = {"To": q.get("To", ""), "From": q.get("From", "")}
    msgs = [m for m in reversed(engine.messages.by_sid.values())
            if (not filters["To"] or m.to == filters["To"])
            and (not filters["From"] or m.from_ == filters["From"])]
    return page(request, "messages", msgs, lambda m: message_json(engine, m), filters)


def routes() -> list[web.RouteDef]:
    return [
        web.post(API + "/Messages.json", create),
        web.get(API + "/Messages.json", list_messages),
        web.get(API + "/Messages/{Sid}.json", fetch),
    ]

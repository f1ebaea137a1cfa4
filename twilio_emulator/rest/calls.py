"""REST Calls: create, fetch, list (To/From/Status filters), update (redirect, end)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..calls import FINAL_STATUSES, Call, Source
from ..engine import Engine
from .common import API, bad_request, date, engine_of, form, json, not_found, one, page

DEFAULT_EVENTS = frozenset({"completed"})


def call_json(engine: Engine, call: Call) -> dict[str, Any]:
    base = f"/2010-04-01/Accounts/{engine.account_sid}/Calls/{call.sid}"
    done = call.status in FINAL_STATUSES
    return {
        "sid": call.sid, "date_created": date(engine, call.created),
        "date_updated": date(engine, call.end_time or call.answer_time or call.created),
        "parent_call_sid": call.parent_sid, "account_sid": call.account_sid,
        "to": call.to, "to_formatted": call.to, "from": call.from_,
        "from_formatted": call.from_, "phone_number_sid": call.phone_number_sid,
        "status": "queued" if call.status == "initiated" else call.status,
        "start_time": date(engine, call.answer_time or call.start_time),
        "end_time": date(engine, call.end_time),
        "duration": str(call.duration(engine.now())) if done else None,
        "price": None, "price_unit": "USD", "direction": call.direction,
        "answered_by": None, "api_version": "2010-04-01", "forwarded_from": None,
        "group_sid": None, "caller_name": call.caller_name,
        "queue_time": str(int(call.queue_time * 1000)), "trunk_sid": None,
        "uri": base + ".json",
        "subresource_uris": {
            "feedback": base + "/Feedback.json", "notifications": base + "/Notifications.json",
            "recordings": base + "/Recordings.json", "streams": base + "/Streams.json",
            "payments": base + "/Payments.json", "siprec": base + "/Siprec.json",
            "events": base + "/Events.json",
            "user_defined_message_subscriptions": base + "/UserDefinedMessageSubscriptions.json",
            "user_defined_messages": base + "/UserDefinedMessages.json",
            "feedback_summaries": f"/2010-04-01/Accounts/{engine.account_sid}"
                                  "/Calls/FeedbackSummary.json"},
    }


def get_call(request: web.Request, sid: str) -> Call:
    call = engine_of(request).calls.get(sid)
    if call is None:
        raise not_found(request)
    return call


async def create(request: web.Request) -> web.Response:
    engine = engine_of(request)
    data = await form(request)
    to, from_ = one(data, "To"), one(data, "From")
    url, twiml = one(data, "Url"), one(data, "Twiml")
    if not to:
        raise bad_request(21201, "No 'To' number is specified")
    if not from_:
        raise bad_request(21213, "No 'From' number is specified")
    if not url and not twiml and not one(data, "ApplicationSid"):
        raise bad_request(21205, "Url parameter is required")
    if url and twiml:
        raise bad_request(21205, "Url and Twiml cannot both be given")
    source = Source(url=url, method=(one(data, "Method") or "POST").upper(), twiml=twiml,
                    fallback_url=one(data, "FallbackUrl"),
                    fallback_method=(one(data, "FallbackMethod") or "POST").upper())
    events = frozenset(e for raw in data.getall("StatusCallbackEvent", [])
                       for e in str(raw).replace(",", " ").split()) or DEFAULT_EVENTS
    try:
        timeout = float(one(data, "Timeout") or 60)
    except ValueError as exc:
        raise bad_request(21216, "Timeout must be a number") from exc
    record = (one(data, "Record") or "false").lower() == "true"
    channels = 2 if (one(data, "RecordingChannels") or "mono") == "dual" else 1
    call = engine.start_outbound(
        from_, to, source, timeout=min(max(timeout, 5), 600),
        status_callback=one(data, "StatusCallback"),
        status_method=(one(data, "StatusCallbackMethod") or "POST").upper(),
        events=events, record=record,
        recording_kw={"channels": channels,
                      "callback": one(data, "RecordingStatusCallback"),
                      "callback_method": one(data, "RecordingStatusCallbackMethod") or "POST",
                      "callback_events": one(data, "RecordingStatusCallbackEvent")
                      or "completed"})
    return json(call_json(engine, call), 201)


async def fetch(request: web.Request) -> web.Response:
    return json(call_json(engine_of(request), get_call(request, request.match_info["Sid"])))


async def list_calls(request: web.Request) -> web.Response:
    engine = engine_of(request)
    q = request.query
    filters = {k: q.get(k, "") for k in ("To", "From", "Status", "ParentCallSid")}
    calls = list(reversed(engine.calls.values()))
    if filters["To"]:
        calls = [c for c in calls if c.to == filters["To"]]
    if filters["From"]:
        calls = [c for c in calls if c.from_ == filters["From"]]
    if filters["Status"]:
        calls = [c for c in calls if (c.status if c.status != "initiated" else "queued")
                 == filters["Status"]]
    if filters["ParentCallSid"]:
        calls = [c for c in calls if c.parent_sid == filters["ParentCallSid"]]
    return page(request, "calls", calls, lambda c: call_json(engine, c), filters)


async def update(request: web.Request) -> web.Response:
    engine = engine_of(request)
    call = get_call(request, request.match_info["Sid"])
    data = await form(request)
    url, twiml, status = one(data, "Url"), one(data, "Twiml"), one(data, "Status")
    if url and twiml:
        raise bad_request(20001, "Url and Twiml cannot both be given")
    if call.done and (url or twiml or status):
        raise bad_request(21220, "Call is not in-progress. Cannot redirect.")
    if status is not None and status not in ("canceled", "completed"):
        raise bad_request(20001, f"Invalid Status {status!r}")
    if status == "completed":
        await engine.end_call(call, "completed" if call.answered else "canceled")
    elif status == "canceled":
        if not call.answered:
            await engine.end_call(call, "canceled")
    elif url or twiml:
        if one(data, "StatusCallback"):
            call.status_callback = one(data, "StatusCallback")
            call.status_callback_method = (one(data, "StatusCallbackMethod") or "POST").upper()
        engine.redirect(call, Source(url=url, twiml=twiml,
                                     method=(one(data, "Method") or "POST").upper(),
                                     fallback_url=one(data, "FallbackUrl"),
                                     fallback_method=(one(data, "FallbackMethod")
                                                      or "POST").upper()))
    return json(call_json(engine, call))


def routes() -> list[web.RouteDef]:
    return [
        web.post(API + "/Calls.json", create),
        web.get(API + "/Calls.json", list_calls),
        web.get(API + "/Calls/{Sid}.json", fetch),
        web.post(API + "/Calls/{Sid}.json", update),
    ]

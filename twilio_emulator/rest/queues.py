"""REST Queues and Queue Members (list, fetch, dequeue-and-redirect)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..calls import Source
from ..engine import Engine
from ..queues import DEFAULT_MAX_SIZE, Member, Queue
from .common import API, bad_request, date, engine_of, form, json, not_found, one, page


def queue_json(engine: Engine, q: Queue) -> dict[str, Any]:
    uri = f"/2010-04-01/Accounts/{engine.account_sid}/Queues/{q.sid}.json"
    return {"date_updated": date(engine, q.updated), "current_size": len(q.members),
            "friendly_name": q.friendly_name, "uri": uri, "account_sid": engine.account_sid,
            "average_wait_time": q.average_wait(engine.now()), "sid": q.sid,
            "date_created": date(engine, q.created), "max_size": q.max_size}


def member_json(engine: Engine, m: Member) -> dict[str, Any]:
    uri = (f"/2010-04-01/Accounts/{engine.account_sid}/Queues/{m.queue.sid}"
           f"/Members/{m.call.sid}.json")
    position = m.queue.position(m) if m in m.queue.members else 0
    return {"call_sid": m.call.sid, "date_enqueued": date(engine, m.enqueued),
            "position": position, "uri": uri,
            "wait_time": int(engine.now() - m.enqueued), "queue_sid": m.queue.sid}


def get_queue(request: web.Request) -> Queue:
    queue = engine_of(request).queues.by_sid.get(request.match_info["Sid"])
    if queue is None:
        raise not_found(request)
    return queue


def _max_size(value: str | None, default: int) -> int:
    if value is None:
        return default
    try:
        size = int(value)
    except ValueError as exc:
        raise bad_request(20001, "MaxSize must be an integer") from exc
    if not 1 <= size <= 5000:
        raise bad_request(20001, "MaxSize must be between 1 and 5000")
    return size


async def create(request: web.Request) -> web.Response:
    engine = engine_of(request)
    data = await form(request)
    name = one(data, "FriendlyName")
    if not name:
        raise bad_request(20001, "Missing required parameter FriendlyName in the post body")
    if engine.queues.by_name(name):
        raise bad_request(22003, f"A queue with friendly name {name} already exists")
    queue = engine.queues.create(name, _max_size(one(data, "MaxSize"), DEFAULT_MAX_SIZE))
    return json(queue_json(engine, queue), 201)


async def fetch(request: web.Request) -> web.Response:
    return json(queue_json(engine_of(request), get_queue(request)))


async def update(request: web.Request) -> web.Response:
    engine = engine_of(request)
    queue = get_queue(request)
    data = await form(request)
    queue.friendly_name = one(data, "FriendlyName") or queue.friendly_name
    queue.max_size = _max_size(one(data, "MaxSize"), queue.max_size)
    queue.updated = engine.now()
    return json(queue_json(engine, queue))


async def delete(request: web.Request) -> web.Response:
    engine = engine_of(request)
    queue = get_queue(request)
    if queue.members:
        raise bad_request(20001, "Queue is not empty")
    del engine.queues.by_sid[queue.sid]
    return web.Response(status=204)


async def list_queues(request: web.Request) -> web.Response:
    engine = engine_of(request)
    return page(request, "queues", list(engine.queues.by_sid.values()),
                lambda q: queue_json(engine, q))


async def list_members(request: web.Request) -> web.Response:
    engine = engine_of(request)
    queue = get_queue(request)
    return page(request, "queue_members", list(queue.members),
                lambda m: member_json(engine, m))


def _member(request: web.Request, queue: Queue) -> Member | None:
    return queue.find(request.match_info["CallSid"])


async def fetch_member(request: web.Request) -> web.Response:
    member = _member(request, get_queue(request))
    if member is None:
        raise not_found(request)
    return json(member_json(engine_of(request), member))


async def dequeue(request: web.Request) -> web.Response:
    engine = engine_of(request)
    queue = get_queue(request)
    data = await form(request)
    url = one(data, "Url")
    if not url:
        raise bad_request(20001, "Missing required parameter Url in the post body")
    member = _member(request, queue)
    if member is None:
        raise bad_request(20001, "Call is not a member of this queue")
    body = member_json(engine, member)
    engine.queues.dequeue_by_rest(member, Source(url=url,
                                                 method=(one(data, "Method") or "POST").upper()))
    return json(body)


def routes() -> list[web.RouteDef]:
    return [
        web.post(API + "/Queues.json", create),
        web.get(API + "/Queues.json", list_queues),
        web.get(API + "/Queues/{Sid}.json", fetch),
        web.post(API + "/Queues/{Sid}.json", update),
        web.delete(API + "/Queues/{Sid}.json", delete),
        web.get(API + "/Queues/{Sid}/Members.json", list_members),
        web.get(API + "/Queues/{Sid}/Members/{CallSid}.json", fetch_member),
        web.post(API + "/Queues/{Sid}/Members/{CallSid}.json", dequeue),
    ]

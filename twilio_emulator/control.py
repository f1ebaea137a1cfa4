"""The control API under /_emulator/: drive calls, scripts, SMS and the clock."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

from aiohttp import web

from .calls import Call
from .engine import Engine
from .rest.common import ENGINE_KEY


def report(engine: Engine, call: Call) -> dict[str, Any]:
    """Everything a test wants to know about a call, including its TwiML trace."""
    return {
        "sid": call.sid, "status": call.status, "direction": call.direction,
        "from": call.from_, "to": call.to, "answered": call.answered,
        "duration": call.duration(engine.now()), "start_time": call.start_time,
        "end_time": call.end_time, "queue_result": call.queue_result,
        "parent_call_sid": call.parent_sid, "heard": call.heard, "trace": call.trace,
        "errors": call.errors, "recordings": call.recordings,
    }


def is_loopback(request: web.Request) -> bool:
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


def _engine(request: web.Request) -> Engine:
    return request.app[ENGINE_KEY]


async def place_call(request: web.Request) -> web.Response:
    engine = _engine(request)
    body = await request.json()
    try:
        call = engine.start_inbound(str(body["from"]), str(body["to"]),
                                    list(body.get("script") or []), body.get("hangup_after"))
    except LookupError as exc:
        return web.json_response({"error": str(exc)}, status=404)
    return web.json_response({"call_sid": call.sid}, status=201)


async def get_call(request: web.Request) -> web.Response:
    engine = _engine(request)
    call = engine.calls.get(request.match_info["sid"])
    if call is None:
        return web.json_response({"error": "no such call"}, status=404)
    return web.json_response(report(engine, call))


async def wait_call(request: web.Request) -> web.Response:
    """Long-poll until the call has ended (real seconds ``timeout``)."""
    engine = _engine(request)
    call = engine.calls.get(request.match_info["sid"])
    if call is None:
        return web.json_response({"error": "no such call"}, status=404)
    timeout = float(request.query.get("timeout", "30"))
    try:
        await asyncio.wait_for(call.ended.wait(), timeout)
    except TimeoutError:
        return web.json_response({"error": "timeout", **report(engine, call)}, status=408)
    return web.json_response(report(engine, call))


async def list_calls(request: web.Request) -> web.Response:
    engine = _engine(request)
    return web.json_response([report(engine, c) for c in engine.calls.values()])


async def send_sms(request: web.Request) -> web.Response:
    engine = _engine(request)
    body = await request.json()
    msg = await engine.messages.receive(str(body["from"]), str(body["to"]), str(body["body"]))
    return web.json_response({"message_sid": msg.sid}, status=201)


async def set_callee(request: web.Request) -> web.Response:
    engine = _engine(request)
    body = await request.json()
    engine.callees[str(body["number"])] = list(body.get("script") or [])
    return web.json_response({"ok": True})


async def advance(request: web.Request) -> web.Response:
    engine = _engine(request)
    body = await request.json()
    try:
        await engine.clock.advance(float(body.get("seconds", 0)))
    except RuntimeError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response({"now": engine.now()})


async def get_log(request: web.Request) -> web.Response:
    return web.json_response(_engine(request).log)


async def get_clock(request: web.Request) -> web.Response:
    engine = _engine(request)
    return web.json_response({"now": engine.now(), "epoch": engine.clock.epoch.isoformat()})


def routes(engine: Engine) -> list[web.RouteDef]:
    return [
        web.post("/_emulator/calls", place_call),
        web.get("/_emulator/calls", list_calls),
        web.get("/_emulator/calls/{sid}", get_call),
        web.get("/_emulator/calls/{sid}/wait", wait_call),
        web.post("/_emulator/sms", send_sms),
        web.post("/_emulator/callees", set_callee),
        web.post("/_emulator/advance", advance),
        web.get("/_emulator/log", get_log),
        web.get("/_emulator/clock", get_clock),
        web.get("/_emulator/phones/{identity}", engine.phones.handle),
    ]

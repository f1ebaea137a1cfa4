"""A small webhook target: serves TwiML per path and checks every request's signature."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from twilio.request_validator import RequestValidator

Reply = str | Callable[[dict[str, str]], Any] | tuple[int, str, str]
"""A TwiML string (text/xml), (status, content type, body), or a callable of the request
parameters returning either (or an awaitable of one, or a fresh ``web.Response``)."""


@dataclass
class Hit:
    path: str
    method: str
    params: dict[str, str]
    headers: dict[str, str]
    valid: bool


@dataclass
class Target:
    token: str
    replies: dict[str, Reply] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    base_url: str = ""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        return self.base_url + path

    def on(self, path: str, reply: Reply) -> str:
        self.replies[path] = reply
        return self.url(path)

    def at(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        params = dict(request.query) if request.method == "GET" else {
            k: str(v) for k, v in (await request.post()).items()}
        url = str(request.url)
        signed = {} if request.method == "GET" else params
        valid = RequestValidator(self.token).validate(
            url, signed, request.headers.get("X-Twilio-Signature", ""))
        self.hits.append(Hit(request.path, request.method, params, dict(request.headers),
                             valid))
        self.arrived.set()
        self.arrived = asyncio.Event()
        reply = self.replies.get(request.path, "<Response/>")
        if callable(reply):
            reply = reply(params)
        if asyncio.iscoroutine(reply):
            reply = await reply
        if isinstance(reply, web.StreamResponse):  # exact bytes and headers
            return reply
        if isinstance(reply, tuple):
            status, ctype, body = reply
            return web.Response(status=status, text=body, content_type=ctype)
        return web.Response(text=reply, content_type="text/xml")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()


def twiml(body: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'


def params_of(hit: Any) -> dict[str, str]:
    return dict(hit.params)

"""The Emulator: wires the engine, REST API, control API and phones into one server."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from . import control, rest
from .audio import Speech
from .clock import make_clock
from .conferences import Conferences
from .dial import Dialer
from .engine import Engine
from .interpreter import Interpreter
from .messages import Messages
from .numbers import Numbers
from .phones import Phones
from .queues import Queues
from .recordings import Recordings
from .rest.common import ENGINE_KEY, TwilioError, check_auth

ACCOUNT_RE = re.compile(r"^AC[0-9a-f]{32}$")
MEDIA_RE = re.compile(r"/Recordings/RE[0-9a-f]{32}(\.wav|\.mp3)?$")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Emulator:
    """A Twilio stand-in: REST API, TwiML engine and signed webhooks over real HTTP."""

    def __init__(self, account_sid: str, auth_token: str, clock: str = "virtual",
                 speech: bool = True, api_keys: dict[str, str] | None = None) -> None:
        if not ACCOUNT_RE.match(account_sid):
            raise ValueError("account_sid must be 'AC' followed by 32 hex digits")
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.api_keys = dict(api_keys or {})
        self.engine = engine = Engine(account_sid, auth_token, make_clock(clock))
        engine.interpreter = Interpreter(engine)
        engine.numbers = Numbers(engine)
        engine.queues = Queues(engine)
        engine.conferences = Conferences(engine)
        engine.recordings = Recordings(engine)
        engine.messages = Messages(engine)
        engine.phones = Phones(engine, self.api_keys)
        engine.speech = Speech(engine, enabled=speech)
        engine.dialer = Dialer(engine)
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    @property
    def log(self) -> list[dict[str, Any]]:
        return self.engine.log

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app[ENGINE_KEY] = self.engine
        app.add_routes(rest.routes())
        app.add_routes(control.routes(self.engine))
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        tracked = not (path.endswith("/wait") or "/phones/" in path)
        if tracked:
            self.engine.clock.touch()
        try:
            rest_api = path.startswith("/2010-04-01/") and not MEDIA_RE.search(path)
            remote_control = path.startswith("/_emulator/") and not control.is_loopback(request)
            if rest_api or remote_control:
                check_auth(request, self.engine, self.api_keys)
            if not tracked:
                return await handler(request)
            with self.engine.clock.busy():
                return await handler(request)
        except web.HTTPNotFound as exc:
            if path.startswith("/2010-04-01/"):
                raise TwilioError(404, 20404,
                                  f"The requested resource {path} was not found") from exc
            raise
        except web.HTTPMethodNotAllowed as exc:
            raise TwilioError(405, 20004, "Method not allowed") from exc

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on host:port (0 picks a free port); returns the base URL."""
        self._runner = web.AppRunner(self.make_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert server is not None and server.sockets
        bound = server.sockets[0].getsockname()[1]
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        self.base_url = f"http://{shown}:{bound}"
        self.engine.base_url = self.base_url
        self.engine.clock.start()
        return self.base_url

    async def stop(self) -> None:
        await self.engine.shutdown()
        await self.engine.clock.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

"""A tiny round-robin TCP proxy in front of several app instances, for the instance tests.

Each client connection goes to the next backend in turn, bytes unchanged (so the Host
header and path Twilio signed reach the app as sent). A backend that refuses the connection
(its instance is dead) is skipped for the next one, as a load balancer's passive health
check does; a connection already forwarded to an instance that dies is cut, as it would be
in production. The emulator opens a new connection per webhook, so round robin per
connection is round robin per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import Counter

CHUNK = 64 * 1024


class RoundRobinProxy:
    def __init__(self, backends: list[int], host: str = "127.0.0.1") -> None:
        self.host = host
        self.backends = list(backends)
        self._turn = itertools.cycle(range(len(self.backends)))
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        # Per backend port: connections forwarded, and connections it refused.
        self.forwarded: Counter[int] = Counter()
        self.refused: Counter[int] = Counter()
        self.unserved = 0  # connections no backend would take
        self.url = ""

    async def start(self, port: int = 0) -> str:
        self._server = await asyncio.start_server(self._handle, self.host, port, backlog=1024)
        bound = self._server.sockets[0].getsockname()[1]
        self.url = f"http://{self.host}:{bound}"
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._pipes):
            task.cancel()
        for task in list(self._pipes):
            with contextlib.suppress(BaseException):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        # Each connection starts at the next backend in turn, then tries the others once
        # each (the turn moves on meanwhile for the connections arriving concurrently).
        start = next(self._turn)
        for step in range(len(self.backends)):
            port = self.backends[(start + step) % len(self.backends)]
            try:
                upstream = await asyncio.wait_for(
                    asyncio.open_connection(self.host, port), timeout=5
                )
            except (OSError, TimeoutError):
                self.refused[port] += 1
                continue
            self.forwarded[port] += 1
            return upstream
        return None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            upstream = await self._connect()
            if upstream is None:
                self.unserved += 1
                return
            up_reader, up_writer = upstream
            try:
                await asyncio.gather(_copy(reader, up_writer), _copy(up_reader, writer))
            finally:
                up_writer.close()
        finally:
            self._pipes.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy until end of stream, then half-close; a reset ends both directions."""
    try:
        while data := await source.read(CHUNK):
            sink.write(data)
            await sink.drain()
        if sink.can_write_eof():
            sink.write_eof()
    except (ConnectionError, OSError):
        sink.close()
        # Closing the sink alone would leave the other direction waiting on a socket no one
        # will answer: abort the source too, so both directions end.
        source.feed_eof()

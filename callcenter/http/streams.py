"""Server-sent event streams, as the live pages get them (the board, the agent's page).

A stream tells the browser how soon to reconnect, sends a comment every
`KEEPALIVE_SECONDS` so proxies keep the connection, and ends after `STREAM_SECONDS`: the
page's EventSource reconnects at once, so the viewer's sign-in and role are checked
again, and a page moves to another instance when this one is drained. Each page sends
what it shows first on every connection, which makes a reconnect its resync.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from quart import Response

KEEPALIVE_SECONDS = 15.0
STREAM_SECONDS = 300.0
RETRY_MS = 1000


def frame(event: str, data: Any) -> bytes:
    """One named event carrying JSON."""
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


async def _paced(frames: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    ends = loop.time() + STREAM_SECONDS
    yield f"retry: {RETRY_MS}\n\n".encode()
    # The next frame is awaited across keep-alives, never cancelled until the stream ends
    # (cancelling would end the page's generator).
    pending: asyncio.Future[bytes] | None = None
    try:
        while (left := ends - loop.time()) > 0:
            if pending is None:
                pending = asyncio.ensure_future(anext(frames))
            done, _ = await asyncio.wait({pending}, timeout=min(KEEPALIVE_SECONDS, left))
            if not done:
                yield b": keep-alive\n\n"
                continue
            chunk, pending = pending.result(), None
            yield chunk
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await pending
        await frames.aclose()  # the page's generator leaves its subscription


def stream(frames: AsyncIterator[bytes]) -> Response:
    """An event stream of the page's `frames` (an async generator of `frame`s, endless),
    paced as above."""
    response = Response(
        _paced(frames),
        content_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
    response.timeout = None  # the stream lasts as long as the page is open
    return response

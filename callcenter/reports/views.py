"""The supervisors' live board: the page, its snapshot, and its stream of snapshots.

`/board/events` is a server-sent event stream: a snapshot at once, then a new one after
every burst of routing and telephony events on any instance, and a comment every
`KEEPALIVE_SECONDS` so proxies keep the connection; it ends after `STREAM_SECONDS`. A
page that reconnects (EventSource does so by itself, after a drop or that end) gets a
fresh snapshot first: that is its resync. Supervisors and
admins only, on every route: an agent is refused the page, the snapshot and the stream.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from quart import Blueprint, Response, render_template
from quart_schema import hide

from callcenter.accounts.auth import require_role
from callcenter.accounts.models import Role
from callcenter.db import utcnow
from callcenter.http.context import db, state
from callcenter.reports import board

bp = Blueprint("reports", __name__)

KEEPALIVE_SECONDS = 15.0
# A stream ends after this long and the page reconnects at once: its sign-in and role are
# checked again, and a board moves to another instance when this one is drained.
STREAM_SECONDS = 300.0
# How soon a page reconnects to a stream that ended or dropped.
RETRY_MS = 1000


@bp.get("/board")
@hide
@require_role(Role.supervisor)
async def board_page() -> str:
    return await render_template(
        "reports/board.html",
        timezone=state().settings.timezone,
        at_risk=round(board.AT_RISK * 100),
    )


@bp.get("/board/snapshot")
@hide
@require_role(Role.supervisor)
async def board_snapshot() -> Response:
    # Read in the request's own session (on SQLite the one connection is the request's).
    picture = await board.snapshot(db(), now=utcnow(), zone=state().settings.zone())
    return Response(json.dumps({**picture, "event": None}), content_type="application/json")


@bp.get("/board/events")
@hide
@require_role(Role.supervisor)
async def board_events() -> Response:
    feed = state().board

    async def stream() -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        ends = loop.time() + STREAM_SECONDS
        yield f"retry: {RETRY_MS}\n\n".encode()
        async with feed.listen() as listener:
            while (left := ends - loop.time()) > 0:
                try:
                    picture = await asyncio.wait_for(
                        listener.next(), min(KEEPALIVE_SECONDS, left)
                    )
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                yield f"event: snapshot\ndata: {json.dumps(picture)}\n\n".encode()

    response = Response(
        stream(),
        content_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
    response.timeout = None  # the stream lasts as long as the page is open
    return response

"""The supervisors' live board: the page, its snapshot, and its stream of snapshots.

`/board/events` is a server-sent event stream (`http.streams`): a snapshot at once, then a
new one after every burst of routing and telephony events on any instance. A page that
reconnects (EventSource does so by itself) gets a snapshot first: that is its resync.
Supervisors and admins only, on every route: an agent is refused the page, the snapshot
and the stream.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from quart import Blueprint, Response, render_template
from quart_schema import hide

from callcenter.accounts.auth import require_role
from callcenter.accounts.models import Role
from callcenter.db import utcnow
from callcenter.http import streams
from callcenter.http.context import db, state
from callcenter.reports import board
from callcenter.telephony import tokens

bp = Blueprint("reports", __name__)



@bp.get("/board")
@hide
@require_role(Role.supervisor)
async def board_page() -> str:
    return await render_template(
        "reports/board.html",
        timezone=state().settings.timezone,
        at_risk=round(board.AT_RISK * 100),
        phone=tokens.phone_config(state().settings),
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

    async def frames() -> AsyncIterator[bytes]:
        async with feed.listen() as listener:
            while True:
                yield streams.frame("snapshot", await listener.next())

    return streams.stream(frames())

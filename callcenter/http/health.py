"""The health check a load balancer polls."""

from __future__ import annotations

from quart import Blueprint, Response, jsonify
from quart_schema import hide

from callcenter.db import ping
from callcenter.http.context import state

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@hide
async def healthz() -> tuple[Response, int]:
    """200 while the database answers within a second, 503 otherwise: what a load balancer
    polls, so it must answer promptly whatever the database does."""
    if await ping(state().engine, within=1.0):
        return jsonify({"status": "ok", "database": "ok"}), 200
    return jsonify({"status": "unavailable", "database": "unreachable"}), 503

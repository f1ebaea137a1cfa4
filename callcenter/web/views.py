"""The pages every role shares, and the health check."""

from __future__ import annotations

from quart import Blueprint, Response, jsonify, redirect, render_template, url_for
from quart_schema import hide
from werkzeug.wrappers import Response as WerkzeugResponse

from callcenter.accounts import service as accounts
from callcenter.accounts.auth import current_user, require_role
from callcenter.accounts.models import Role
from callcenter.db import ping
from callcenter.web.context import db, state

bp = Blueprint("web", __name__)


@bp.get("/")
@hide
async def home() -> WerkzeugResponse | str:
    user = current_user()
    if user is None:
        return redirect(url_for("accounts.login"))
    return await render_template("home.html")


@bp.get("/admin")
@hide
@require_role(Role.admin)
async def admin() -> str:
    users, total = await accounts.list_users(db(), offset=0, limit=200)
    return await render_template("admin.html", users=users, total=total)


@bp.get("/healthz")
@hide
async def healthz() -> tuple[Response, int]:
    """200 while the database answers within a second, 503 otherwise: what a load balancer
    polls, so it must answer promptly whatever the database does."""
    if await ping(state().engine, within=1.0):
        return jsonify({"status": "ok", "database": "ok"}), 200
    return jsonify({"status": "unavailable", "database": "unreachable"}), 503

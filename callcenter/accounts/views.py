"""The login page, signing out, and the users API."""

from __future__ import annotations

import datetime as dt
import logging
from urllib.parse import urlsplit

from quart import Blueprint, redirect, render_template, request, session, url_for
from quart_schema import hide, tag_blueprint, validate_querystring, validate_response
from werkzeug.wrappers import Response as WerkzeugResponse

from callcenter import api
from callcenter.accounts import service as accounts
from callcenter.accounts.auth import current_user, require_role
from callcenter.accounts.models import Role
from callcenter.accounts.schemas import MeOut, UserOut, UserPage, UserQuery
from callcenter.web.context import db, settings

log = logging.getLogger(__name__)

pages = Blueprint("accounts", __name__)
api_bp = Blueprint("accounts_api", __name__, url_prefix="/api")
tag_blueprint(api_bp, ["accounts"])


def _safe_next(target: str | None) -> str:
    """Only same-site paths, so the login form cannot be used to redirect elsewhere."""
    # Browsers read a backslash as a slash, so "/\\evil.example" would leave the site too.
    if not target or "\\" in target or urlsplit(target).netloc or not target.startswith("/"):
        return url_for("web.home")
    return "/" + target.lstrip("/")


@pages.get("/login")
@hide
async def login() -> str:
    return await render_template("accounts/login.html", next=request.args.get("next", ""))


@pages.post("/login")
@hide
async def login_submit() -> tuple[str, int] | WerkzeugResponse:
    form = await request.form
    email = form.get("email", "").strip()
    config = settings()
    result = await accounts.authenticate(
        db(),
        email=email,
        password=form.get("password", ""),
        max_failures=config.login_max_failures,
        lockout=dt.timedelta(seconds=config.login_lockout_seconds),
    )
    if result.user is None:
        log.info("accounts.login.failed", extra={"locked": result.locked_until is not None})
        message = "Wrong email or password."
        if result.locked_until is not None:
            message = "Too many wrong passwords: this account is locked for a while. Try later."
        # The boundary rolls back error responses, but the failure count must survive this one.
        await db().commit()
        page = await render_template(
            "accounts/login.html", error=message, email=email, next=form.get("next", "")
        )
        return page, 401
    session.clear()
    session["user_id"] = result.user.id
    session.permanent = True
    log.info("accounts.login.succeeded", extra={"user_id": result.user.id})
    return redirect(_safe_next(form.get("next")))


@pages.post("/logout")
@hide
async def logout() -> WerkzeugResponse:
    session.clear()
    return redirect(url_for("accounts.login"))


@api_bp.get("/me")
@require_role(Role.agent)
@validate_response(MeOut, 200)
@validate_response(api.ErrorOut, 401)
async def read_me() -> MeOut:
    """The signed-in user (or the owner of the bearer token)."""
    user = current_user()
    assert user is not None
    return MeOut(id=user.id, email=user.email, name=user.name, role=user.role)


@api_bp.get("/users")
@require_role(Role.admin)
@validate_querystring(UserQuery)
@validate_response(UserPage, 200)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
async def list_users(query_args: UserQuery) -> UserPage:
    """All users, a page at a time, in the order they were added. Admins only."""
    offset, limit = api.page_bounds(query_args.page, query_args.per_page)
    users, total = await accounts.list_users(db(), offset=offset, limit=limit, role=query_args.role)
    return UserPage(
        items=[UserOut.model_validate(user, from_attributes=True) for user in users],
        page=query_args.page,
        per_page=query_args.per_page,
        total=total,
        next_page=api.next_page(query_args.page, query_args.per_page, total),
    )

"""The login page, signing out, and the users API."""

from __future__ import annotations

import datetime as dt
import logging
from urllib.parse import urlsplit

from quart import Blueprint, current_app, redirect, render_template, request, session, url_for
from quart_schema import hide, tag_blueprint, validate_querystring, validate_response
from werkzeug.wrappers import Response as WerkzeugResponse

from callcenter import api
from callcenter.accounts import devices, passwords, sessions
from callcenter.accounts import login as signing_in
from callcenter.accounts import service as accounts
from callcenter.accounts.auth import current_user, login_guard, require_role
from callcenter.accounts.models import Role, User
from callcenter.accounts.schemas import MeOut, UserOut, UserPage, UserQuery
from callcenter.http.clients import client_address
from callcenter.http.context import db, settings

log = logging.getLogger(__name__)

pages = Blueprint("accounts", __name__)
api_bp = Blueprint("accounts_api", __name__, url_prefix="/api")
tag_blueprint(api_bp, ["accounts"])


def _safe_next(target: str | None) -> str:
    """Only same-site paths, so the login form cannot be used to redirect elsewhere."""
    # Browsers read a backslash as a slash, so "/\\evil.example" would leave the site too.
    if not target or "\\" in target or urlsplit(target).netloc or not target.startswith("/"):
        return url_for("accounts.home")
    return "/" + target.lstrip("/")


@pages.get("/")
@hide
async def home() -> WerkzeugResponse | str:
    """The start page once signed in; the login page otherwise."""
    if current_user() is None:
        return redirect(url_for("accounts.login"))
    return await render_template("home.html")


@pages.get("/login")
@hide
async def login() -> str:
    return await render_template("accounts/login.html", next=request.args.get("next", ""))


# One answer for every refusal, so the page never tells whether an email has an account.
# How long to wait when the password checks are queued up (a flood from many addresses).
BUSY_RETRY_SECONDS = 5
REFUSED = (
    "Wrong email or password (or, after many wrong tries, sign-in from this browser is paused "
    "for a while; the browser you usually sign in with still works)."
)


def _log_refusal(email: str, reason: signing_in.Refusal, **facts: object) -> None:
    """The tried email, unless it is no email at all: a password typed in the wrong box."""
    try:
        tried = accounts.normalise_email(email)
    except accounts.AccountError:
        tried = "(not an email address)"
    log.info(
        "accounts.login.failed",
        extra={"email": tried, "reason": reason.value, "client": client_address(), **facts},
    )


Refused = tuple[str, int, dict[str, str]]


async def _refused(
    form: dict[str, str], *, status: int, error: str, headers: dict[str, str] | None = None
) -> Refused:
    page = await render_template(
        "accounts/login.html", error=error, email=form.get("email", ""), next=form.get("next", "")
    )
    return page, status, headers or {}


@pages.post("/login")
@hide
async def login_submit() -> Refused | WerkzeugResponse:
    """The steps are `callcenter.accounts.login`'s (`signing_in`); the transactions end here."""
    form = await request.form
    email = form.get("email", "").strip()[:320]
    password = form.get("password", "")
    config, guard, secret = settings(), login_guard(), str(current_app.secret_key)
    device = devices.read(secret, request.cookies.get(devices.COOKIE))
    candidate = None
    if device is not None and device.knows_some_account():
        # Only a browser we signed in before costs a read ahead of the throttles: it may be
        # the account's own, which no one else's guesses may keep out.
        candidate = await signing_in.find_candidate(db(), email=email)
    trusted = device is not None and candidate is not None and device.trusts(
        candidate.user_id, candidate.password_hash
    )
    who = {"address": client_address(), "email": email, "device": device, "trusted": trusted}
    if wait := guard.attempt(**who):
        _log_refusal(email, signing_in.Refusal.throttled, retry_after=wait)
        return await _refused(
            form, status=429, headers={"Retry-After": str(wait)},
            error=f"Too many sign-in attempts from here. Try again in {wait} seconds.",
        )
    if candidate is None:
        candidate = await signing_in.find_candidate(db(), email=email)
    # No transaction while hashing: on SQLite it would hold the only connection meanwhile.
    await db().commit()
    try:
        matched = await guard.hashes.verify(candidate.password_hash, password)
        new_hash = None
        if matched and candidate.password_hash and passwords.needs_rehash(candidate.password_hash):
            new_hash = await guard.hashes.hash(password)
    except passwords.PoolBusy:
        _log_refusal(email, signing_in.Refusal.busy, retry_after=BUSY_RETRY_SECONDS)
        return await _refused(
            form, status=503, headers={"Retry-After": str(BUSY_RETRY_SECONDS)},
            error="Too many people are signing in right now. Try again in a few seconds.",
        )
    user, refusal = await signing_in.settle(
        db(),
        candidate=candidate,
        matched=matched,
        trusted=trusted,
        new_hash=new_hash,
        max_failures=config.login_max_failures,
        lockout=dt.timedelta(seconds=config.login_lockout_seconds),
    )
    if user is None:
        assert refusal is not None
        _log_refusal(email, refusal)
        # The boundary rolls back error responses, but the failure count must survive this one.
        await db().commit()
        return await _refused(form, status=401, error=REFUSED)
    guard.succeeded(**who)
    log.info("accounts.login.succeeded", extra={"user_id": user.id, "client": client_address()})
    await _start_session(user)
    response = redirect(_safe_next(form.get("next")))
    response.set_cookie(
        devices.COOKIE,
        devices.dump(secret, (device or devices.new()).remember(user.id, user.password_hash)),
        max_age=int(devices.LIFETIME.total_seconds()),
        httponly=True,
        secure=config.secure_cookies,
        samesite="Lax",
    )
    return response


async def _start_session(user: User) -> None:
    """A new session row and a new cookie (never the one sent before: session fixation)."""
    await sessions.purge_ended(
        db(), user_id=user.id, max_age=dt.timedelta(seconds=settings().session_max_age_seconds)
    )
    key = await sessions.start(
        db(), user=user, client_address=client_address(),
        user_agent=request.headers.get("User-Agent", ""),
    )
    session.clear()
    session["sid"] = key
    session.permanent = True


@pages.post("/logout")
@hide
async def logout() -> WerkzeugResponse:
    """End the session on the server too, so a copy of the cookie signs nobody in."""
    if key := session.get("sid"):
        await sessions.revoke(db(), key=key)
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

"""Who is asking: bearer tokens for scripts, the session cookie for people; roles and CSRF.

Every page and API route declares the least role it needs with `require_role`. API routes
answer 401/403 as JSON; pages send a signed-out person to the login page. The cookie names a
server-side session (`sessions`), so ending it there signs the browser out.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from quart import Quart, current_app, g, redirect, request, session, url_for

from callcenter.accounts import service as accounts
from callcenter.accounts import sessions
from callcenter.accounts.login import LoginGuard
from callcenter.accounts.models import Role, User
from callcenter.errors import APIError, wants_json
from callcenter.http.context import db, settings

P = ParamSpec("P")
R = TypeVar("R")

# Paths whose requests prove themselves another way (Twilio's signature) or change nothing.
CSRF_EXEMPT_PREFIXES = ("/twilio/",)
# Served alike to everyone, signed in or not (the app's static files, npm packages).
PUBLIC_FILES = ("/static/", "/vendor/")
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def current_user() -> User | None:
    return g.get("user")


async def _load_user() -> None:
    """Resolve the caller once per request: a bearer token wins over the cookie. Static
    files and npm packages are the same for everyone: they cost no session lookup."""
    g.user = None
    g.via_token = False
    if request.path.startswith(PUBLIC_FILES):
        return
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        g.via_token = True
        g.user = await accounts.user_for_token(db(), token=header[7:].strip())
        return
    key = session.get("sid")
    if key is not None:
        config = settings()
        g.user = await sessions.user_for_key(
            db(),
            key=key,
            idle=dt.timedelta(seconds=config.session_idle_seconds),
            max_age=dt.timedelta(seconds=config.session_max_age_seconds),
        )
        if g.user is None:
            session.pop("sid")  # ended: later requests need not look it up


def login_guard() -> LoginGuard:
    """The app's login throttles and password-hash pool."""
    return current_app.extensions["accounts.login"]


def csrf_token() -> str:
    """The session's CSRF token, made on first use; forms carry it in a hidden field."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


async def _check_csrf() -> None:
    """A state-changing request on the session cookie must carry the session's CSRF token.

    An API request from nobody signed in rides on no session, so there is nothing to forge:
    it goes on to `require_role`, which answers 401 as it does for every anonymous call.
    """
    if request.method in SAFE_METHODS or g.get("via_token"):
        return
    if request.path.startswith("/api/") and current_user() is None:
        return
    if request.path.startswith(CSRF_EXEMPT_PREFIXES):
        return
    sent = request.headers.get("X-CSRF-Token")
    if sent is None and request.mimetype in ("application/x-www-form-urlencoded",
                                              "multipart/form-data"):
        sent = (await request.form).get("csrf_token")
    expected = session.get("csrf")
    if not expected or not sent or not secrets.compare_digest(sent.encode(), expected.encode()):
        raise APIError(403, "csrf_failed", "the form has expired; reload the page and try again")


def require_role(role: Role) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[Any]]]:
    """Refuse the route to anyone below `role`: 401 when signed out, 403 when not allowed."""

    def decorator(view: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[Any]]:
        @wraps(view)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
            user = current_user()
            if user is None:
                if wants_json():
                    raise APIError(401, "unauthorized", "sign in or send a valid bearer token")
                return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
            if not user.role.includes(role):
                raise APIError(403, "forbidden", f"this needs the {role.value} role")
            return await view(*args, **kwargs)

        return wrapper

    return decorator


def register(app: Quart) -> None:
    guard = LoginGuard(app.extensions["callcenter"].settings)
    app.extensions["accounts.login"] = guard
    app.after_serving(guard.close)
    app.before_request(_load_user)
    app.before_request(_check_csrf)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["current_user"] = current_user

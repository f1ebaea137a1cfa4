"""The admin page: users, their access and API tokens, and the buttons that change them.

Every change is a POST with the form's CSRF token, recorded in the audit log, then a
redirect back (POST-redirect-GET), so a reload never sends a form again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from quart import Blueprint, flash, redirect, render_template, url_for
from quart_schema import hide
from werkzeug.wrappers import Response as WerkzeugResponse

from callcenter.accounts import service as accounts
from callcenter.accounts.auth import current_user, require_role
from callcenter.accounts.models import Role, User
from callcenter.errors import APIError
from callcenter.http.context import db

bp = Blueprint("admin", __name__)


@bp.get("/admin")
@hide
@require_role(Role.admin)
async def page() -> str:
    users, total = await accounts.list_users(db(), offset=0, limit=200)
    tokens = await accounts.active_tokens(db(), user_ids=[user.id for user in users])
    return await render_template(
        "admin.html", users=users, total=total, tokens=tokens, is_locked=accounts.is_locked
    )


async def _change_user(
    user_id: int, change: Callable[[User, int], Awaitable[str]]
) -> WerkzeugResponse:
    """Apply an admin's change to a user and go back to the admin page, saying what happened.

    POST-redirect-GET (303), so reloading the page does not send the form again.
    """
    user = await accounts.get(db(), user_id=user_id)
    if user is None:
        raise APIError(404, "not_found", "there is no such user")
    actor = current_user()
    assert actor is not None
    try:
        await flash(await change(user, actor.id), "done")
    except accounts.AccountError as error:
        await flash(str(error), "error")
    return redirect(url_for("admin.page"), 303)


@bp.post("/admin/users/<int(max=2147483647):user_id>/deactivate")
@hide
@require_role(Role.admin)
async def deactivate_user(user_id: int) -> WerkzeugResponse:
    async def change(user: User, actor_id: int) -> str:
        ended, revoked = await accounts.deactivate(db(), user=user, actor_id=actor_id)
        return (
            f"Deactivated {user.email}: {ended} session(s) signed out, "
            f"{revoked} API token(s) revoked."
        )

    return await _change_user(user_id, change)


@bp.post("/admin/users/<int(max=2147483647):user_id>/activate")
@hide
@require_role(Role.admin)
async def activate_user(user_id: int) -> WerkzeugResponse:
    async def change(user: User, actor_id: int) -> str:
        await accounts.activate(db(), user=user, actor_id=actor_id)
        return f"Activated {user.email}."

    return await _change_user(user_id, change)


@bp.post("/admin/users/<int(max=2147483647):user_id>/unlock")
@hide
@require_role(Role.admin)
async def unlock_user(user_id: int) -> WerkzeugResponse:
    async def change(user: User, actor_id: int) -> str:
        await accounts.unlock(db(), user=user, actor_id=actor_id)
        return f"Unlocked {user.email}."

    return await _change_user(user_id, change)


@bp.post("/admin/tokens/<int(max=2147483647):token_id>/revoke")
@hide
@require_role(Role.admin)
async def revoke_token(token_id: int) -> WerkzeugResponse:
    token = await accounts.get_token(db(), token_id=token_id)
    if token is None:
        raise APIError(404, "not_found", "there is no such API token")
    actor = current_user()
    assert actor is not None
    await accounts.revoke_token(db(), token=token, actor_id=actor.id)
    await flash(f"Revoked API token {token.prefix}.", "done")
    return redirect(url_for("admin.page"), 303)

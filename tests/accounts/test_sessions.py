"""Login sessions live on the server: signing out, a new password, deactivation and idleness
end them, whatever copy of the cookie is still around."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from builders import DEFAULT_PASSWORD, make_token, make_user
from quart import Quart
from quart.testing import QuartClient
from sqlalchemy import event, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.logins import attempt, sign_out, signed_in_as
from callcenter.accounts import service as accounts
from callcenter.accounts.models import LoginSession, User
from callcenter.db import utcnow


def session_cookie_value(response) -> str:
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith("callcenter_session="):
            return header.split(";")[0].split("=", 1)[1]
    raise AssertionError("no session cookie set")


async def me_with_cookie(app: Quart, cookie: str) -> int:
    """GET /api/me from a fresh client that only has this session cookie, as a thief would."""
    response = await app.test_client().get(
        "/api/me", headers={"Cookie": f"callcenter_session={cookie}"}
    )
    return response.status_code


async def login_session(db_session: AsyncSession, user_id: int) -> LoginSession:
    await db_session.rollback()
    row = await db_session.scalar(
        select(LoginSession)
        .where(LoginSession.user_id == user_id)
        .order_by(LoginSession.id.desc())
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


async def test_a_cookie_copied_before_sign_out_signs_nobody_in(
    app: Quart, client: QuartClient, db_session: AsyncSession
) -> None:
    user = await make_user(db_session)
    await db_session.commit()
    copied = session_cookie_value(await attempt(client, user.email))
    assert await me_with_cookie(app, copied) == 200

    await sign_out(client)

    assert await me_with_cookie(app, copied) == 401
    assert await signed_in_as(client) is None
    assert (await login_session(db_session, user.id)).revoked_at is not None


@pytest.mark.settings(session_idle_seconds=600)
async def test_an_idle_session_ends(
    app: Quart, client: QuartClient, db_session: AsyncSession
) -> None:
    user = await make_user(db_session)
    await db_session.commit()
    await attempt(client, user.email)
    row = await login_session(db_session, user.id)

    async def idle_for(seconds: int) -> None:
        since = utcnow() - dt.timedelta(seconds=seconds)
        await db_session.execute(
            update(LoginSession).where(LoginSession.id == row.id).values(last_seen_at=since)
        )
        await db_session.commit()

    await idle_for(590)
    assert await signed_in_as(client) == user.email, "a request within the limit keeps it alive"
    assert (await login_session(db_session, user.id)).last_seen_at > utcnow() - dt.timedelta(
        seconds=5
    )
    await idle_for(601)
    assert await signed_in_as(client) is None


@pytest.mark.settings(session_max_age_seconds=3600)
async def test_a_session_ends_at_its_maximum_age_however_busy(
    client: QuartClient, db_session: AsyncSession
) -> None:
    user = await make_user(db_session)
    await db_session.commit()
    await attempt(client, user.email)
    row = await login_session(db_session, user.id)

    await db_session.execute(
        update(LoginSession)
        .where(LoginSession.id == row.id)
        .values(created_at=utcnow() - dt.timedelta(seconds=3601))
    )
    await db_session.commit()

    assert await signed_in_as(client) is None


async def test_the_last_request_is_written_at_most_once_a_minute(
    client: QuartClient, db_session: AsyncSession
) -> None:
    user = await make_user(db_session)
    await db_session.commit()
    user_id, email = user.id, user.email
    await attempt(client, email)
    started = (await login_session(db_session, user_id)).last_seen_at

    for _ in range(3):
        assert await signed_in_as(client) == email
    assert (await login_session(db_session, user_id)).last_seen_at == started

    earlier = utcnow() - dt.timedelta(seconds=61)
    await db_session.execute(
        update(LoginSession).where(LoginSession.user_id == user_id).values(last_seen_at=earlier)
    )
    await db_session.commit()
    assert await signed_in_as(client) == email
    assert (await login_session(db_session, user_id)).last_seen_at > started


@contextmanager
def statements_run(engine: Engine) -> Iterator[list[str]]:
    """The data statements `engine` runs inside the block (SELECT, INSERT, UPDATE, DELETE)."""
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().split()[0].upper() in {"SELECT", "INSERT", "UPDATE", "DELETE"}:
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)


async def test_loading_the_user_is_one_query(
    app: Quart, client: QuartClient, db_session: AsyncSession
) -> None:
    user = await make_user(db_session)
    token = await make_token(db_session, user=user)
    await db_session.commit()
    await attempt(client, user.email)
    await signed_in_as(client)  # the token's and the session's first touches are done
    await app.test_client().get("/api/me", headers={"Authorization": f"Bearer {token}"})
    engine = app.extensions["callcenter"].engine.sync_engine

    with statements_run(engine) as by_cookie:
        assert await signed_in_as(client) == user.email
    with statements_run(engine) as by_token:
        response = await app.test_client().get(
            "/api/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200
    assert len(by_cookie) == 1, by_cookie
    assert len(by_token) == 1, by_token

    with statements_run(engine) as statements:
        for path in ("/static/app.css", "/vendor/swagger-ui/swagger-ui.css"):
            assert (await client.get(path)).status_code == 200, path
    assert statements == [], "static files cost no session lookup"


async def test_a_new_password_signs_out_every_browser(
    app: Quart, db_session: AsyncSession
) -> None:
    user = await make_user(db_session)
    await db_session.commit()
    browsers = [app.test_client(), app.test_client()]
    for browser in browsers:
        assert (await attempt(browser, user.email)).status_code == 302

    found = await db_session.scalar(select(User).where(User.id == user.id))
    assert found is not None
    ended = await accounts.set_password(db_session, user=found, password="a brand new passphrase")
    await db_session.commit()

    assert ended == 2
    for browser in browsers:
        assert await signed_in_as(browser) is None
    assert (await attempt(browsers[0], user.email, DEFAULT_PASSWORD)).status_code == 401
    assert (await attempt(browsers[0], user.email, "a brand new passphrase")).status_code == 302


async def test_deactivation_signs_out_and_stops_tokens(
    app: Quart, client: QuartClient, db_session: AsyncSession
) -> None:
    user = await make_user(db_session)
    token = await make_token(db_session, user=user)
    await db_session.commit()
    await attempt(client, user.email)
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await app.test_client().get("/api/me", headers=bearer)).status_code == 200

    found = await db_session.scalar(select(User).where(User.id == user.id))
    assert found is not None
    assert await accounts.deactivate(db_session, user=found) == (1, 1)
    await db_session.commit()

    assert await signed_in_as(client) is None
    assert (await app.test_client().get("/api/me", headers=bearer)).status_code == 401
    await accounts.activate(db_session, user=found)
    await db_session.commit()
    assert (await app.test_client().get("/api/me", headers=bearer)).status_code == 401, (
        "activating again does not bring old tokens back"
    )


async def test_the_session_row_keeps_where_it_came_from_but_not_its_key(
    client: QuartClient, db_session: AsyncSession
) -> None:
    user = await make_user(db_session)
    await db_session.commit()

    await attempt(client, user.email, address="203.0.113.9")

    async with client.session_transaction() as cookie:
        key = cookie["sid"]
        assert set(cookie) <= {"sid", "csrf", "_permanent"}, "no user id in the cookie"
    row = await login_session(db_session, user.id)
    assert row.client_address == "203.0.113.9"
    assert row.user_agent  # the test client's own
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in (row.key_hash, row.client_address, row.user_agent)


@pytest.mark.settings(session_max_age_seconds=3600)
async def test_signing_in_clears_sessions_past_their_maximum_age(
    app: Quart, db_session: AsyncSession
) -> None:
    user = await make_user(db_session)
    await db_session.commit()
    await attempt(app.test_client(), user.email)
    await db_session.execute(
        update(LoginSession).values(created_at=utcnow() - dt.timedelta(seconds=3601))
    )
    await db_session.commit()

    await attempt(app.test_client(), user.email)

    await db_session.rollback()
    count = await db_session.scalar(select(func.count()).select_from(LoginSession))
    assert count == 1

"""Signing in on the login page: passwords, cookies, CSRF and the `next` redirect.

Lockout and throttling are in test_lockout.py, sessions in test_sessions.py.
"""

from __future__ import annotations

import pytest
from builders import DEFAULT_PASSWORD, csrf_from, make_token, make_user, sign_in
from quart.testing import QuartClient
from sqlalchemy import String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.accounts.models import ApiToken, LoginSession, User
from callcenter.accounts.views import REFUSED

WRONG = "not the password at all"


def session_cookie(response) -> str | None:
    """The Set-Cookie header for the session cookie, if the response sets one."""
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith("callcenter_session="):
            return header
    return None


async def signed_in_as(client: QuartClient) -> str | None:
    response = await client.get("/api/me")
    if response.status_code != 200:
        return None
    return (await response.get_json())["email"]


async def test_wrong_password_is_refused_with_the_error_on_the_page(
    client: QuartClient, db_session: AsyncSession
) -> None:
    user = await make_user(db_session)
    await db_session.commit()

    response = await sign_in(client, email=user.email, password=WRONG)

    assert response.status_code == 401
    assert REFUSED in await response.get_data(as_text=True)
    assert await signed_in_as(client) is None


async def test_unknown_email_gets_the_same_answer(client: QuartClient) -> None:
    response = await sign_in(client, email="nobody@example.com", password=WRONG)
    assert response.status_code == 401
    assert REFUSED in await response.get_data(as_text=True)


async def test_right_password_sets_an_httponly_samesite_cookie(
    client: QuartClient, db_session: AsyncSession
) -> None:
    user = await make_user(db_session, email="Agent.Smith@example.com")
    await db_session.commit()

    response = await sign_in(client, email=" agent.smith@EXAMPLE.com ", password=DEFAULT_PASSWORD)

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    cookie = session_cookie(response)
    assert cookie is not None
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "secure" not in attributes  # public_base_url is http://
    assert await signed_in_as(client) == user.email


@pytest.mark.settings(public_base_url="https://cc.example.com")
async def test_cookie_is_secure_when_served_over_https(
    client: QuartClient, db_session: AsyncSession
) -> None:
    user = await make_user(db_session)
    await db_session.commit()

    response = await sign_in(client, email=user.email)

    assert response.status_code == 302
    cookie = session_cookie(response)
    assert cookie is not None
    assert "secure" in [part.strip().lower() for part in cookie.split(";")]


async def test_login_post_without_the_csrf_token_is_403(
    client: QuartClient, db_session: AsyncSession
) -> None:
    user = await make_user(db_session)
    await db_session.commit()
    page = await (await client.get("/login")).get_data(as_text=True)

    missing = await client.post("/login", form={"email": user.email, "password": DEFAULT_PASSWORD})
    forged = await client.post(
        "/login",
        form={"email": user.email, "password": DEFAULT_PASSWORD, "csrf_token": "forged"},
    )

    assert missing.status_code == 403
    assert forged.status_code == 403
    assert await signed_in_as(client) is None
    ok = await client.post(
        "/login",
        form={"email": user.email, "password": DEFAULT_PASSWORD, "csrf_token": csrf_from(page)},
    )
    assert ok.status_code == 302
    assert await signed_in_as(client) == user.email


@pytest.mark.backends("sqlite")  # the redirect does not depend on the database
@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/admin", "/admin"),
        ("/api/me?x=1", "/api/me?x=1"),
        ("//evil.example", "/"),
        ("http://evil.example", "/"),
        ("https://evil.example/path", "/"),
        ("evil.example", "/"),
        ("///evil.example", "/evil.example"),
    ],
)
async def test_next_only_redirects_within_the_site(
    client: QuartClient, db_session: AsyncSession, target: str, expected: str
) -> None:
    user = await make_user(db_session)
    await db_session.commit()

    response = await sign_in(client, email=user.email, next=target)

    assert response.status_code == 302
    assert response.headers["Location"] == expected


@pytest.mark.backends("sqlite")
async def test_next_with_a_backslash_does_not_leave_the_site(
    client: QuartClient, db_session: AsyncSession
) -> None:
    r"""Browsers read `/\evil.example` as `//evil.example`, another site."""
    user = await make_user(db_session)
    await db_session.commit()

    response = await sign_in(client, email=user.email, next="/\\evil.example")

    location = response.headers["Location"]
    assert not location.replace("\\", "/").startswith("//"), location


async def test_database_holds_no_clear_text_password_or_token(
    client: QuartClient, db_session: AsyncSession
) -> None:
    password = "a very particular passphrase 7291"
    user = await make_user(db_session, password=password)
    token = await make_token(db_session, user=user)
    await db_session.commit()
    assert (await sign_in(client, email=user.email, password=password)).status_code == 302

    for model in (User, ApiToken, LoginSession):
        text_columns = [
            column for column in model.__table__.columns if isinstance(column.type, String | Text)
        ]
        for row in (await db_session.execute(select(*text_columns))).all():
            for value in row:
                assert password not in str(value)
                assert token not in str(value)
                assert token[3:] not in str(value)
    stored = await db_session.scalar(select(User.password_hash).where(User.id == user.id))
    assert stored is not None and stored.startswith("$argon2id$")

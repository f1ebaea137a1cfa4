"""Guessing is slowed and locked out without letting a stranger lock a user out.

Throttles count per client address and per address and typed email (known or not, the
same); the per-account lock keeps out only browsers that never signed in to the account.
Every refusal but a throttle's 429 is one 401 with one message.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

import pytest
from builders import DEFAULT_PASSWORD, make_user
from quart import Quart
from quart.testing import QuartClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.logins import attempt, sign_out, signed_in_as
from callcenter.accounts import devices, passwords
from callcenter.accounts import login as signing_in
from callcenter.accounts.models import User
from callcenter.accounts.views import REFUSED
from callcenter.audit.models import AuditEntry
from callcenter.db import utcnow

WRONG = "not the password at all"


def without_echoes(page: str) -> str:
    """The page minus what differs by request anyway: the CSRF token and the typed email."""
    return re.sub(r'value="[^"]*"', 'value=""', page)


async def stored(db_session: AsyncSession, user_id: int) -> User:
    """The user as the app committed it (not as this session's identity map remembers it)."""
    await db_session.rollback()
    user = await db_session.scalar(
        select(User).where(User.id == user_id).execution_options(populate_existing=True)
    )
    assert user is not None
    return user


@pytest.mark.settings(login_max_failures=3, login_lockout_seconds=600)
async def test_a_stranger_cannot_lock_the_user_out_of_their_own_browser(
    app: Quart, db_session: AsyncSession
) -> None:
    user = await make_user(db_session)
    await db_session.commit()
    own = app.test_client()
    assert (await attempt(own, user.email)).status_code == 302
    await sign_out(own)

    stranger = app.test_client()
    for number in range(6):  # from many addresses, so no address throttle stops it
        response = await attempt(stranger, user.email, WRONG, address=f"198.51.100.{number}")
        assert response.status_code == 401
    assert (await stored(db_session, user.id)).locked_until is not None

    newcomer = app.test_client()
    refused = await attempt(newcomer, user.email, address="203.0.113.7")
    assert refused.status_code == 401
    assert REFUSED in await refused.get_data(as_text=True)
    assert await signed_in_as(newcomer) is None

    assert (await attempt(own, user.email, address="203.0.113.8")).status_code == 302
    assert await signed_in_as(own) == user.email
    audit = await db_session.scalars(
        select(AuditEntry.action).where(AuditEntry.target == f"user:{user.id}")
    )
    assert "user.locked" in list(audit)


@pytest.mark.settings(login_address_attempts=3, login_address_email_attempts=2)
async def test_guesses_from_the_users_own_address_do_not_keep_their_browser_out(
    app: Quart, db_session: AsyncSession
) -> None:
    """Behind one office NAT (or a proxy with trusted_proxies=0), a colleague's guesses use
    up the address's budget; the user's own browser pays only its own and still gets in."""
    user = await make_user(db_session)
    await db_session.commit()
    own = app.test_client()
    assert (await attempt(own, user.email)).status_code == 302
    await sign_out(own)

    colleague = app.test_client()
    answers = [(await attempt(colleague, user.email, WRONG)).status_code for _ in range(4)]
    assert answers[-1] == 429
    assert (await attempt(app.test_client(), user.email)).status_code == 429  # a new browser

    assert (await attempt(own, user.email)).status_code == 302
    assert await signed_in_as(own) == user.email


@pytest.mark.settings(login_address_attempts=3)
async def test_an_ipv6_network_counts_as_one_address(app: Quart) -> None:
    """A /64 holds more addresses than any throttle could count one by one."""
    answers = [
        (await attempt(app.test_client(), f"n{n}@example.com", WRONG,
                       address=f"2001:db8:1:2::{n + 1:x}")).status_code
        for n in range(4)
    ]
    assert answers == [401, 401, 401, 429]
    other = await attempt(app.test_client(), "n9@example.com", WRONG, address="2001:db8:1:3::1")
    assert other.status_code == 401


@pytest.mark.settings(login_max_failures=2, login_lockout_seconds=600)
async def test_a_new_password_ends_the_trust_of_browsers_that_knew_the_old_one(
    app: Quart, db_session: AsyncSession
) -> None:
    """After a compromise the password is changed: the attacker's once-trusted browser is a
    stranger again, so the account's lock keeps it out."""
    user = await make_user(db_session)
    await db_session.commit()
    once_trusted = app.test_client()
    assert (await attempt(once_trusted, user.email)).status_code == 302
    await sign_out(once_trusted)
    await db_session.execute(
        update(User).where(User.id == user.id).values(
            password_hash=passwords.hash_password("a brand new password"),
            locked_until=utcnow() + dt.timedelta(minutes=10),
        )
    )
    await db_session.commit()

    refused = await attempt(once_trusted, user.email, "a brand new password", address="192.0.2.99")
    assert refused.status_code == 401


@pytest.mark.settings(login_max_failures=2)
async def test_every_refusal_is_the_same_401_page(
    app: Quart, db_session: AsyncSession
) -> None:
    """Unknown email, wrong password, locked account, deactivated user: nothing tells them apart."""
    known = await make_user(db_session)
    locked = await make_user(db_session, locked_until=utcnow() + dt.timedelta(hours=1))
    inactive = await make_user(db_session, is_active=False)
    await db_session.commit()
    tries = [
        ("nobody@example.com", WRONG),
        (known.email, WRONG),
        (locked.email, DEFAULT_PASSWORD),
        (locked.email, WRONG),
        (inactive.email, DEFAULT_PASSWORD),
    ]

    pages: set[str] = set()
    headers: set[tuple[tuple[str, str], ...]] = set()
    for number, (email, password) in enumerate(tries):
        response = await attempt(app.test_client(), email, password, address=f"192.0.2.{number}")
        assert response.status_code == 401, email
        pages.add(without_echoes(await response.get_data(as_text=True)))
        cookies = sorted(c.split("=", 1)[0] for c in response.headers.getlist("Set-Cookie"))
        headers.add((("set-cookie names", ",".join(cookies)), *sorted(
            (name, value) for name, value in response.headers.items()
            if name.lower() not in ("x-request-id", "set-cookie", "content-length")
        )))

    assert len(pages) == 1
    assert REFUSED in pages.pop()
    assert len(headers) == 1, "the headers tell the refusals apart"


@pytest.mark.settings(login_address_email_attempts=3)
async def test_unknown_emails_are_throttled_exactly_like_known_ones(
    client: QuartClient, db_session: AsyncSession
) -> None:
    user = await make_user(db_session)
    await db_session.commit()

    answers = {}
    for email in (user.email, "nobody@example.com"):
        answers[email] = [(await attempt(client, email, WRONG)).status_code for _ in range(4)]

    assert answers == {user.email: [401, 401, 401, 429], "nobody@example.com": [401, 401, 401, 429]}
    throttled = await attempt(client, user.email)  # even the right password waits
    assert throttled.status_code == 429
    assert await signed_in_as(client) is None
    elsewhere = await attempt(client, user.email, address="192.0.2.99")
    assert elsewhere.status_code == 302, "another address has its own budget"


@pytest.mark.settings(login_address_attempts=3, login_throttle_seconds=60)
async def test_an_address_over_its_budget_is_told_how_long_to_wait(client: QuartClient) -> None:
    for number in range(3):
        assert (await attempt(client, f"guess{number}@example.com", WRONG)).status_code == 401

    response = await attempt(client, "guess9@example.com", WRONG)

    assert response.status_code == 429
    wait = int(response.headers["Retry-After"])
    assert 1 <= wait <= 20  # one attempt comes back every 60/3 seconds
    page = await response.get_data(as_text=True)
    assert f"Try again in {wait} seconds." in page
    elsewhere = await attempt(client, "guess9@example.com", WRONG, address="192.0.2.77")
    assert elsewhere.status_code == 401


@pytest.mark.settings(login_address_attempts=2)
async def test_a_successful_sign_in_gives_its_attempt_back(
    client: QuartClient, db_session: AsyncSession
) -> None:
    """An office behind one address signs in all morning; only wrong passwords count."""
    user = await make_user(db_session)
    await db_session.commit()

    for _ in range(4):
        assert (await attempt(client, user.email)).status_code == 302
        await sign_out(client)
    assert (await attempt(client, user.email, WRONG)).status_code == 401


@pytest.mark.settings(login_max_failures=3, login_lockout_seconds=60)
async def test_after_a_lock_ends_a_wrong_password_starts_counting_afresh(
    app: Quart, db_session: AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    user = await make_user(db_session)
    await db_session.commit()
    for number in range(3):
        await attempt(app.test_client(), user.email, WRONG, address=f"198.51.100.{number}")
    assert (await stored(db_session, user.id)).locked_until is not None
    # The lock ends: move it into the past, as the clock would.
    ended = utcnow() - dt.timedelta(seconds=1)
    await db_session.execute(update(User).where(User.id == user.id).values(locked_until=ended))
    await db_session.commit()

    caplog.set_level(logging.INFO)
    caplog.clear()
    response = await attempt(app.test_client(), user.email, WRONG, address="198.51.100.50")

    assert response.status_code == 401
    [failed] = [r for r in caplog.records if r.getMessage() == "accounts.login.failed"]
    assert failed.reason == "wrong_password", "not refused as locked any more"  # type: ignore[attr-defined]
    after = await stored(db_session, user.id)
    assert after.locked_until is None, "the stale lock is cleared"
    assert after.failed_logins == 1
    right = await attempt(app.test_client(), user.email, address="198.51.100.51")
    assert right.status_code == 302


@pytest.mark.settings(login_max_failures=2)
async def test_wrong_passwords_from_the_users_own_browser_do_not_lock_the_account(
    client: QuartClient, db_session: AsyncSession
) -> None:
    user = await make_user(db_session)
    await db_session.commit()
    assert (await attempt(client, user.email)).status_code == 302
    await sign_out(client)

    for _ in range(4):
        assert (await attempt(client, user.email, WRONG)).status_code == 401

    after = await stored(db_session, user.id)
    assert after.locked_until is None
    assert after.failed_logins == 0
    assert (await attempt(client, user.email)).status_code == 302


@pytest.mark.settings(login_address_email_attempts=2)
async def test_a_device_cookie_has_its_own_guessing_budget(
    client: QuartClient, db_session: AsyncSession
) -> None:
    """A stolen device cookie skips the lock, not the throttle, from any address."""
    user = await make_user(db_session)
    await db_session.commit()
    assert (await attempt(client, user.email)).status_code == 302
    await sign_out(client)

    statuses = [
        (await attempt(client, user.email, WRONG, address=f"198.51.100.{n}")).status_code
        for n in range(3)
    ]

    assert statuses == [401, 401, 429]


async def test_the_device_cookie_is_signed_httponly_and_long_lived(
    app: Quart, client: QuartClient, db_session: AsyncSession
) -> None:
    user = await make_user(db_session)
    await db_session.commit()

    response = await attempt(client, user.email)

    cookies = [
        header for header in response.headers.getlist("Set-Cookie")
        if header.startswith(f"{devices.COOKIE}=")
    ]
    assert len(cookies) == 1
    attributes = [part.strip().lower() for part in cookies[0].split(";")]
    assert "httponly" in attributes and "samesite=lax" in attributes
    assert f"max-age={365 * 24 * 3600}" in attributes
    value = cookies[0].split(";")[0].split("=", 1)[1]
    secret = str(app.secret_key)
    device = devices.read(secret, value)
    assert device is not None and device.trusts(user.id, user.password_hash)
    assert devices.read(secret, value[:-2] + ("AA" if value[-2:] != "AA" else "BB")) is None
    assert devices.read("another key", value) is None


@pytest.mark.settings(login_max_failures=2, login_lockout_seconds=600)
async def test_a_forged_device_cookie_is_not_trusted(
    client: QuartClient, db_session: AsyncSession
) -> None:
    user = await make_user(db_session, locked_until=utcnow() + dt.timedelta(minutes=10))
    await db_session.commit()
    forged = devices.new().remember(user.id, user.password_hash)
    unsigned = devices.dump("not the app's key", forged)
    client.set_cookie("localhost", devices.COOKIE, unsigned)

    assert (await attempt(client, user.email)).status_code == 401


async def test_a_password_changed_while_it_was_being_checked_proves_nothing(
    db_session: AsyncSession,
) -> None:
    """The hash was read, then the password changed (and every session was revoked) while
    the old one was being checked: that check must not open a session after the revocation."""
    user = await make_user(db_session)
    await db_session.commit()
    read_before = signing_in.Candidate(user_id=user.id, password_hash="the hash read earlier")
    signed_in, refusal = await signing_in.settle(
        db_session, candidate=read_before, matched=True, trusted=True, new_hash=None,
        max_failures=5, lockout=dt.timedelta(minutes=5),
    )
    assert signed_in is None
    assert refusal == signing_in.Refusal.wrong_password

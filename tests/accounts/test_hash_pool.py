"""Password checks run in threads, a bounded number at once, with no transaction open."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest
from builders import make_user
from quart import Quart
from quart.testing import QuartClient
from sqlalchemy.ext.asyncio import AsyncSession
from twilio_requests import call_sid, post_signed, voice_params

from accounts.logins import attempt
from callcenter.accounts import passwords
from callcenter.config import Settings


@pytest.fixture
def held_hash(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """Make every password check wait, in its thread, until the test lets it go."""
    started, release = threading.Event(), threading.Event()
    real = passwords.verify_password

    def held(password_hash: str | None, password: str) -> bool:
        started.set()
        release.wait(10)
        return real(password_hash, password)

    monkeypatch.setattr(passwords, "verify_password", held)
    return started, release


async def test_webhooks_are_answered_while_a_password_is_being_checked(
    client: QuartClient,
    settings: Settings,
    db_session: AsyncSession,
    held_hash: tuple[threading.Event, threading.Event],
) -> None:
    """On SQLite a transaction holds the only connection: none may be open while hashing."""
    started, release = held_hash
    user = await make_user(db_session)
    await db_session.commit()
    login = asyncio.create_task(attempt(client, user.email, "a wrong password"))
    try:
        assert await asyncio.to_thread(started.wait, 5), "the check started"

        params = voice_params(settings, sid=call_sid())
        webhook = post_signed(client, settings, "/twilio/voice/incoming", params)
        response = await asyncio.wait_for(webhook, timeout=3)

        assert response.status_code == 200
        assert not login.done(), "the password check was still running meanwhile"
    finally:
        release.set()
    assert (await login).status_code == 401


@pytest.mark.backends("sqlite")  # the pool does not depend on the database
@pytest.mark.settings(login_address_attempts=100, login_address_email_attempts=100)
async def test_no_more_checks_run_at_once_than_the_pool_allows(
    app: Quart, monkeypatch: pytest.MonkeyPatch
) -> None:
    running, most = 0, 0
    lock = threading.Lock()

    def slow(password_hash: str | None, password: str) -> bool:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return False

    monkeypatch.setattr(passwords, "verify_password", slow)
    size = app.extensions["accounts.login"].hashes.size
    tries = size + 2

    statuses = await asyncio.gather(
        *(attempt(app.test_client(), f"nobody{n}@example.com", "wrong") for n in range(tries))
    )

    assert [response.status_code for response in statuses] == [401] * tries
    assert most == size
    assert size == max(1, len(os.sched_getaffinity(0)) - 1), "a core is left to the event loop"


@pytest.mark.backends("sqlite")  # the pool does not depend on the database
@pytest.mark.settings(login_address_attempts=100, login_address_email_attempts=100)
async def test_checks_beyond_the_queue_are_refused_at_once_with_503(
    app: Quart, held_hash: tuple[threading.Event, threading.Event]
) -> None:
    """A flood from many addresses gets past the per-address throttles; rather than queue
    without end (each newcomer waiting longer), the pool turns the excess away."""
    started, release = held_hash
    pool = app.extensions["accounts.login"].hashes
    pool.max_waiting = 1
    held = [
        asyncio.create_task(attempt(app.test_client(), f"held{n}@example.com", "wrong"))
        for n in range(pool.size + pool.max_waiting)
    ]
    try:
        assert await asyncio.to_thread(started.wait, 5)
        for _ in range(100):  # until every held attempt is in the pool
            if pool._in_flight == len(held):
                break
            await asyncio.sleep(0.01)
        began = time.perf_counter()
        busy = await attempt(app.test_client(), "one.more@example.com", "wrong")
        assert time.perf_counter() - began < 1
        assert busy.status_code == 503
        assert busy.headers["Retry-After"] == "5"
        assert "Try again in a few seconds" in await busy.get_data(as_text=True)
    finally:
        release.set()
    assert [(await task).status_code for task in held] == [401] * len(held)

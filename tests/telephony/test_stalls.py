"""Nothing an attacker sends, and nothing the database does, keeps a caller in silence:
an oversized forged form is refused without stalling a genuine webhook sent meanwhile,
and a database whose write lock is held elsewhere gets the caller an apology within a few
seconds while /healthz still answers at once. On SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from xml.etree import ElementTree

import aiohttp
import pytest
from quart.testing import QuartClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from twilio.request_validator import RequestValidator
from twilio_requests import call_sid, post_signed, voice_params

from callcenter.config import Settings

INCOMING = "/twilio/voice/incoming"


def _signed(settings: Settings, path: str, params: dict[str, str]) -> dict[str, str]:
    validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
    return {"X-Twilio-Signature": validator.compute_signature(
        settings.public_base_url + path, params)}


async def _genuine(http: aiohttp.ClientSession, base: str, settings: Settings) -> float:
    """Send one real incoming-call webhook; the seconds it took to be answered with TwiML."""
    params = voice_params(settings, sid=call_sid())
    started = time.perf_counter()
    async with http.post(base + INCOMING, data=params,
                         headers=_signed(settings, INCOMING, params)) as response:
        assert response.status == 200
        assert "Thank you for calling" in await response.text()
    return time.perf_counter() - started


def _huge_form() -> bytes:
    """About 13 MB in 1.5 million fields, like the forged request that once stalled us."""
    return b"&".join(b"f%d=xxxx" % i for i in range(1_500_000))


async def _streamed(body: bytes) -> AsyncIterator[bytes]:
    """The body in chunks, so the request goes out with no Content-Length (chunked)."""
    for start in range(0, len(body), 256 * 1024):
        yield body[start:start + 256 * 1024]
        await asyncio.sleep(0)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_oversized_forged_form_does_not_stall_a_genuine_webhook(
    live_server: str, settings: Settings, chunked: bool
):
    body = _huge_form()
    headers = {"X-Twilio-Signature": "forged", "Content-Type": "application/x-www-form-urlencoded"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:

        async def forged() -> tuple[int | None, float]:
            started = time.perf_counter()
            data = _streamed(body) if chunked else body
            try:
                async with http.post(live_server + INCOMING, data=data, headers=headers) as reply:
                    return reply.status, time.perf_counter() - started
            except aiohttp.ClientError:  # the server may close on us mid-upload: refused too
                return None, time.perf_counter() - started

        attack = asyncio.create_task(forged())
        await asyncio.sleep(0.05)
        genuine = [await _genuine(http, live_server, settings) for _ in range(3)]
        status, refused_after = await attack
    assert status in (413, None)
    assert refused_after < 5, f"the forged form took {refused_after:.1f} s to be refused"
    assert max(genuine) < 2, f"genuine webhooks took {genuine}"


@asynccontextmanager
async def _write_lock_held_elsewhere(
    database_url: str, backend: str, db_session: AsyncSession
) -> AsyncIterator[None]:
    """Another process's transaction holding what the incoming webhook must write."""
    if backend == "sqlite":
        other = sqlite3.connect(make_url(database_url).database, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.rollback()
            other.close()
    else:
        await db_session.execute(text('LOCK TABLE "call" IN ACCESS EXCLUSIVE MODE'))
        try:
            yield
        finally:
            await db_session.rollback()


async def test_locked_database_still_gets_callers_an_apology_in_seconds(
    client: QuartClient,
    settings: Settings,
    database_url: str,
    backend: str,
    db_session: AsyncSession,
):
    async def webhook() -> tuple[float, str]:
        started = time.perf_counter()
        response = await post_signed(
            client, settings, INCOMING, voice_params(settings, sid=call_sid())
        )
        assert response.status_code == 200
        twiml = await response.get_data(as_text=True)
        ElementTree.fromstring(twiml)  # well-formed
        return time.perf_counter() - started, twiml

    async with _write_lock_held_elsewhere(database_url, backend, db_session):
        answers = asyncio.gather(*(webhook() for _ in range(4)))
        await asyncio.sleep(0.2)
        started = time.perf_counter()
        health = await client.get("/healthz")
        health_seconds = time.perf_counter() - started
        results = await answers
    for seconds, twiml in results:
        assert "something went wrong" in twiml and "<Hangup />" in twiml
        assert seconds < settings.webhook_deadline_seconds + 2, f"apology after {seconds:.1f} s"
    assert health.status_code == 200  # the database still answers; only its write lock is taken
    assert health_seconds < 2, f"/healthz took {health_seconds:.1f} s"
    # Once the lock is gone, callers are greeted again.
    for _ in range(50):
        with suppress(AssertionError):
            _seconds, twiml = await webhook()
            assert "Thank you for calling" in twiml
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("callers were never greeted again after the lock was released")

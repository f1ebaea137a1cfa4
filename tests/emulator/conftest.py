"""Fixtures: an emulator on a free port, a signed-webhook target and clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from twilio_emulator import Emulator, EmulatorClient

from .target import Target

ACCOUNT = "AC" + "a1" * 16
TOKEN = "test-auth-token"
CALLER = "+14155550100"
NUMBER = "+15005550006"


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    emulator = Emulator(account_sid=ACCOUNT, auth_token=TOKEN, clock="virtual",
                        api_keys={"SK" + "b2" * 16: "key-secret"})
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    t = Target(TOKEN)
    await t.start()
    yield t
    await t.stop()


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[EmulatorClient]:
    c = EmulatorClient(emu.base_url, account_sid=ACCOUNT, auth_token=TOKEN)
    yield c
    await c.close()


OAI_SPEC = Path(__file__).parent / "data" / "twilio_api_v2010.json"
"""Twilio's OpenAPI description of the 2010-04-01 API (vendored: see data/README.md)."""


async def until(predicate: Callable[[], object], seconds: float = 10.0) -> None:
    """Wait (real time) until `predicate()` is true; fail the test if it never is."""
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


@pytest.fixture
async def twilio(emu: Emulator) -> AsyncIterator[Client]:
    """twilio-python's REST client, async, pointed at the emulator as an app would be."""
    http = AsyncTwilioHttpClient()
    client = Client(ACCOUNT, TOKEN, http_client=http)
    client.api.base_url = emu.base_url  # type: ignore[attr-defined]
    yield client
    if http.session:
        await http.session.close()

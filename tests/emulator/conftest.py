"""Fixtures: an emulator on a free port, a signed-webhook target and clients."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

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

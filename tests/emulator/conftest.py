"""Fixtures: an emulator on a free port, a signed-webhook target and clients."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

# The venv's editable install predates twilio_emulator/__init__.py and maps the package
# as a namespace; make sure the real package (repository root) is the one imported.
ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
if getattr(sys.modules.get("twilio_emulator"), "__file__", "") is None:
    for name in [n for n in sys.modules if n.split(".")[0] == "twilio_emulator"]:
        del sys.modules[name]

from twilio_emulator import Emulator, EmulatorClient  # noqa: E402

from .target import Target  # noqa: E402

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

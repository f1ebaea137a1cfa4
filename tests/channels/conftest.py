"""The email tests' surroundings: a relay (a real SMTP server keeping what it is given)
and the app's own listener, started with the app on a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from conftest import _free_port
from quart import Quart

from channels.mailbox import SUPPORT, Relay


@pytest.fixture
def relay() -> Any:
    found = Relay()
    controller = Controller(found, hostname="127.0.0.1", port=_free_port())
    controller.start()
    found.port = controller.port
    yield found
    controller.stop()


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any], relay: Relay) -> dict[str, Any]:
    return {
        **settings_overrides, "support_address": SUPPORT, "smtp_listen_host": "127.0.0.1",
        "smtp_listen_port": 0, "smtp_host": "127.0.0.1", "smtp_port": relay.port,
        "email_attachment_limit_bytes": 50_000,
    }


@pytest.fixture
async def listener(app: Quart) -> AsyncIterator[int]:
    """The port the app's SMTP listener took."""
    server = app.extensions["callcenter"].smtp
    assert server is not None, "the listener starts with the app when its settings are set"
    yield server.sockets[0].getsockname()[1]

"""A person's phone registers with an Access Token, checked as Twilio checks a Voice SDK
Device's: signed with an API Key of the account, naming the phone's identity, allowed
incoming calls, not expired. Tokens are made with twilio-python's own AccessToken."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant

from twilio_emulator import Emulator

from .conftest import ACCOUNT

# The emu fixture's API Key secret is short; PyJWT warns of it, and that is all.
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
KEY, SECRET = "SK" + "b2" * 16, "key-secret"  # the emu fixture's API Key


def _token(
    identity: str = "alice", *, key: str = KEY, secret: str = SECRET, account: str = ACCOUNT,
    incoming: bool = True, ttl: int = 3600,
) -> str:
    token = AccessToken(account, key, secret, identity=identity, ttl=ttl)
    token.add_grant(VoiceGrant(incoming_allow=incoming))
    return token.to_jwt()


async def _register(emu: Emulator, message: dict[str, Any], identity: str = "alice") -> dict:
    url = emu.base_url.replace("http", "ws", 1) + f"/_emulator/phones/{identity}"
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        await ws.send_json({"type": "register", **message})
        return await ws.receive_json(timeout=5)


async def test_a_phone_with_a_valid_token_registers(emu: Emulator):
    answer = await _register(emu, {"token": _token()})
    assert answer == {"type": "registered", "identity": "alice"}


@pytest.mark.parametrize(
    ("why", "token", "code"),
    [
        ("another identity's token", lambda: _token("bob"), 20101),
        ("no incoming grant", lambda: _token(incoming=False), 20101),
        ("signed with a wrong secret", lambda: _token(secret="not-the-secret"), 20101),
        ("an API Key the account lacks", lambda: _token(key="SK" + "c3" * 16), 20103),
        ("another account", lambda: _token(account="AC" + "d4" * 16), 20103),
        ("expired", lambda: _token(ttl=-60), 20104),
        ("longer than a day", lambda: _token(ttl=25 * 3600), 20104),
        ("not a token at all", lambda: "not-a-jwt", 20101),
        ("no token", lambda: "", 20101),
    ],
)
async def test_a_phone_with_a_bad_token_is_refused(emu: Emulator, why: str, token, code: int):
    answer = await _register(emu, {"token": token()} if token() else {})
    assert answer["type"] == "error", why
    assert answer["code"] == code, why


async def test_the_emulators_own_bots_need_no_token(emu: Emulator):
    answer = await _register(emu, {"bot": {"mode": "accept"}})
    assert answer["type"] == "registered"

"""An agent's softphone token: minted by the app, taken by the emulator's phone as Twilio
would take it, refused clearly when no API Key is configured."""

from __future__ import annotations

import aiohttp
import pytest
from builders import make_token, make_user
from conftest import TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN
from quart.testing import QuartClient
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.accounts.models import Role
from twilio_emulator import Emulator

KEY, SECRET = "SK" + "e5" * 16, "an API key secret long enough for HS256 use"


async def _ask_for_token(client: QuartClient, db_session: AsyncSession):
    """An agent's request for their softphone token, with a bearer token of their own."""
    user = await make_user(db_session, role=Role.agent)
    bearer = await make_token(db_session, user=user)
    await db_session.commit()
    return await client.post(
        "/api/agents/me/voice-token", headers={"Authorization": f"Bearer {bearer}"}
    )


@pytest.mark.settings(twilio_api_key_sid=KEY, twilio_api_key_secret=SECRET)
async def test_the_emulators_phone_registers_with_the_token_the_app_mints(
    client: QuartClient, db_session: AsyncSession
):
    answer = await _ask_for_token(client, db_session)
    assert answer.status_code == 200
    minted = await answer.get_json()
    emulator = Emulator(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, api_keys={KEY: SECRET})
    await emulator.start()
    try:
        url = emulator.base_url.replace("http", "ws", 1) + f"/_emulator/phones/{minted['identity']}"
        async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
            await ws.send_json({"type": "register", "token": minted["token"]})
            assert await ws.receive_json(timeout=5) == {
                "type": "registered", "identity": minted["identity"],
            }
    finally:
        await emulator.stop()


async def test_without_an_api_key_the_token_is_refused_with_the_reason(
    client: QuartClient, db_session: AsyncSession
):
    answer = await _ask_for_token(client, db_session)
    assert answer.status_code == 503
    assert "twilio_api_key_sid" in (await answer.get_json())["error"]["message"]

"""Every Twilio webhook proves its origin first: forged 403, malformed 400, never a 500."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from quart.testing import QuartClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from twilio_requests import call_sid, post_signed, voice_params

from callcenter.config import Settings
from callcenter.telephony import service as calls

WEBHOOKS = [
    "/twilio/voice/incoming",
    "/twilio/voice/status",
    "/twilio/voice/ivr?node=main_menu&attempt=1",
    "/twilio/voice/queue/wait?node=support",
    "/twilio/voice/agent/status?reservation=1",
]


@pytest.mark.parametrize("path", WEBHOOKS)
async def test_unsigned_request_is_refused(client: QuartClient, settings: Settings, path: str):
    response = await client.post(path, form=voice_params(settings, sid=call_sid()))
    assert response.status_code == 403
    body = await response.get_json()
    assert body["error"]["code"] == "signature_missing"


@pytest.mark.parametrize("path", WEBHOOKS)
async def test_forged_signature_is_refused(client: QuartClient, settings: Settings, path: str):
    response = await post_signed(
        client,
        settings,
        path,
        voice_params(settings, sid=call_sid()),
        signature="bm90IGEgcmVhbCBzaWduYXR1cmU=",
    )
    assert response.status_code == 403
    assert (await response.get_json())["error"]["code"] == "signature_invalid"


async def test_signature_from_another_auth_token_is_refused(
    client: QuartClient, settings: Settings
):
    other = settings.model_copy(update={"twilio_auth_token": SecretStr("another-token")})
    params = voice_params(settings, sid=call_sid())
    response = await post_signed(client, other, "/twilio/voice/incoming", params)
    assert response.status_code == 403


async def test_tampered_parameters_are_refused(client: QuartClient, settings: Settings):
    """A valid signature for other parameters must not let changed ones through."""
    from twilio.request_validator import RequestValidator

    params = voice_params(settings, sid=call_sid())
    url = settings.public_base_url + "/twilio/voice/incoming"
    token = settings.twilio_auth_token.get_secret_value()
    signature = RequestValidator(token).compute_signature(url, params)
    params["From"] = "+14155559999"
    response = await client.post(
        "/twilio/voice/incoming", form=params, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 403


@pytest.mark.settings(public_base_url="https://support.example.com")
async def test_signature_checked_against_public_url_behind_proxy(
    client: QuartClient, settings: Settings
):
    """Behind a TLS proxy the app sees http://internal, but Twilio signed the public URL."""
    params = voice_params(settings, sid=call_sid())
    ok = await post_signed(client, settings, "/twilio/voice/incoming", params)
    assert ok.status_code == 200
    internal = settings.model_copy(update={"public_base_url": "http://localhost"})
    forged = await post_signed(client, internal, "/twilio/voice/incoming", params)
    assert forged.status_code == 403


async def test_malformed_webhook_is_400(client: QuartClient, settings: Settings):
    params = voice_params(settings, sid=call_sid())
    del params["CallSid"]
    response = await post_signed(client, settings, "/twilio/voice/incoming", params)
    assert response.status_code == 400
    assert (await response.get_json())["error"]["code"] == "malformed_webhook"


async def test_ivr_url_without_node_is_400(client: QuartClient, settings: Settings):
    response = await post_signed(
        client, settings, "/twilio/voice/ivr?attempt=1", voice_params(settings, sid=call_sid())
    )
    assert response.status_code == 400


async def test_ivr_node_gone_from_the_flow_starts_the_caller_over(
    client: QuartClient, settings: Settings
):
    response = await post_signed(
        client,
        settings,
        "/twilio/voice/ivr?node=gone&attempt=1",
        voice_params(settings, sid=call_sid(), Digits="1"),
    )
    assert response.status_code == 200
    assert "Thank you for calling" in await response.get_data(as_text=True)


# Breaking the schema is a real fault, but PostgreSQL's database is shared by the session's
# tests, so these run on SQLite (a copy per test); the code path is the same on both.
@pytest.mark.backends("sqlite")
async def test_internal_failure_still_answers_the_caller(
    client: QuartClient, settings: Settings, db_session: AsyncSession
):
    """A broken database mid-call: the caller hears an apology and a goodbye, Twilio a 200."""
    await db_session.execute(text("DROP TABLE blocklist_entry"))
    await db_session.commit()
    response = await post_signed(
        client, settings, "/twilio/voice/incoming", voice_params(settings, sid=call_sid())
    )
    assert response.status_code == 200
    assert response.content_type.startswith("application/xml")
    twiml = await response.get_data(as_text=True)
    assert "something went wrong" in twiml
    assert "<Hangup />" in twiml


async def test_fallback_url_apologises(client: QuartClient, settings: Settings):
    params = voice_params(
        settings,
        sid=call_sid(),
        ErrorCode="11200",
        ErrorUrl=settings.public_base_url + "/twilio/voice/incoming",
    )
    response = await post_signed(client, settings, "/twilio/voice/fallback", params)
    assert response.status_code == 200
    assert "<Hangup />" in await response.get_data(as_text=True)


@pytest.mark.backends("sqlite")
async def test_rolled_back_failure_leaves_no_half_call(
    client: QuartClient, settings: Settings, db_session: AsyncSession
):
    """What the failing handler wrote before it failed is rolled back, not half-kept: the
    call row is inserted first, then the customer lookup fails on the missing table."""
    await db_session.execute(text("DROP TABLE identity"))
    await db_session.commit()
    sid = call_sid()
    await post_signed(client, settings, "/twilio/voice/incoming", voice_params(settings, sid=sid))
    assert await calls.get_by_sid(db_session, sid=sid) is None

"""Signed webhooks whose values Twilio could not have sent get 400 (never 500, never broken
TwiML), another account's 403, and nothing of theirs is stored; what Twilio does send,
a long SIP address included, is kept whole on both databases."""

from __future__ import annotations

import pytest
from quart.testing import QuartClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from twilio.request_validator import RequestValidator
from twilio_requests import call_sid, post_signed, voice_params

from callcenter.config import Settings
from callcenter.telephony import service as calls
from callcenter.telephony.models import Call, CallEvent, CallStatus, Outcome
from callcenter.tickets.models import TicketEvent


async def _error(response) -> str:
    return (await response.get_json())["error"]["code"]


@pytest.mark.parametrize(
    "field, value",
    [
        ("SequenceNumber", "²"),  # str.isdigit() says yes, int() says no
        ("SequenceNumber", "1" * 23),  # wider than any integer column
        ("Timestamp", "Fri, 31 Dec 9999 23:59:59 -1400"),  # past datetime.max in UTC
        ("Timestamp", "yesterday"),
        ("CallDuration", "-5"),
        ("CallStatus", "exploded"),
    ],
)
async def test_status_callback_with_impossible_value_is_400(
    client: QuartClient, settings: Settings, db_session: AsyncSession, field: str, value: str
):
    sid = call_sid()
    params = voice_params(settings, sid=sid, status="completed", SequenceNumber="3")
    params[field] = value
    response = await post_signed(client, settings, "/twilio/voice/status", params)
    assert response.status_code == 400
    assert await _error(response) == "malformed_webhook"
    assert field in (await response.get_json())["error"]["message"]
    stored = await db_session.scalar(select(func.count()).where(CallEvent.call_sid == sid))
    assert stored == 0


@pytest.mark.parametrize(
    "sid",
    ["x", "CA" + "0" * 5000, "CA'; DROP TABLE call;--", "CA" + "A" * 32, "QU" + "0" * 32,
     "CA" + "0" * 31 + "\x07"],
)
async def test_call_sid_not_shaped_like_twilio_is_400_and_not_stored(
    client: QuartClient, settings: Settings, db_session: AsyncSession, sid: str
):
    params = voice_params(settings, sid=sid)
    response = await post_signed(client, settings, "/twilio/voice/incoming", params)
    assert response.status_code == 400
    assert await _error(response) == "malformed_webhook"
    assert await db_session.scalar(select(func.count()).select_from(Call)) == 0


@pytest.mark.parametrize(
    "path",
    [
        "/twilio/voice/agent/status?reservation=999999999999999999999999",
        "/twilio/voice/agent/answer?reservation=-1",
        "/twilio/voice/caller/connect?reservation=%C2%B2",
        "/twilio/voice/ivr?node=main_menu&attempt=99999999999999999999",
        "/twilio/voice/queue/wait?node=" + "n" * 500,
    ],
)
async def test_our_own_query_args_out_of_shape_are_400(
    client: QuartClient, settings: Settings, path: str
):
    response = await post_signed(client, settings, path, voice_params(settings, sid=call_sid()))
    assert response.status_code == 400
    assert await _error(response) == "malformed_webhook"


async def test_another_accounts_request_is_refused(client: QuartClient, settings: Settings):
    params = voice_params(settings, sid=call_sid())
    params["AccountSid"] = "AC" + "f" * 32
    response = await post_signed(client, settings, "/twilio/voice/incoming", params)
    assert response.status_code == 403
    assert await _error(response) == "wrong_account"


async def test_long_sip_address_is_kept_whole_on_both_databases(
    client: QuartClient, settings: Settings, db_session: AsyncSession
):
    """A SIP From longer than 64 characters once worked on SQLite and failed on PostgreSQL."""
    sip = "sip:" + "customer.with.a.long.name" * 5 + "@pbx.example.com;transport=tls"
    assert 64 < len(sip) <= 255
    sid = call_sid()
    response = await post_signed(
        client, settings, "/twilio/voice/incoming", voice_params(settings, sid=sid, from_=sip)
    )
    assert response.status_code == 200
    assert "Thank you for calling" in await response.get_data(as_text=True)
    call = await calls.get_by_sid(db_session, sid=sid)
    assert call is not None and call.from_number == sip


async def test_from_wider_than_its_column_is_400_on_both_databases(
    client: QuartClient, settings: Settings, db_session: AsyncSession
):
    params = voice_params(settings, sid=call_sid(), from_="sip:" + "a" * 300 + "@example.com")
    response = await post_signed(client, settings, "/twilio/voice/incoming", params)
    assert response.status_code == 400
    assert "From" in (await response.get_json())["error"]["message"]
    assert await db_session.scalar(select(func.count()).select_from(Call)) == 0


async def test_control_character_in_any_value_is_400(client: QuartClient, settings: Settings):
    params = voice_params(settings, sid=call_sid(), SpeechResult="sales\x00\x1b[2J")
    response = await post_signed(
        client, settings, "/twilio/voice/ivr?node=main_menu&attempt=1", params
    )
    assert response.status_code == 400


async def test_body_that_is_not_utf8_is_400(client: QuartClient, settings: Settings):
    sid = call_sid()
    body = f"CallSid={sid}&AccountSid={settings.twilio_account_sid}&From=%FF%FE".encode()
    url = settings.public_base_url + "/twilio/voice/incoming"
    signature = RequestValidator(settings.twilio_auth_token.get_secret_value()).compute_signature(
        url, {"CallSid": sid, "AccountSid": settings.twilio_account_sid, "From": "\ufffd\ufffd"}
    )
    response = await client.post(
        "/twilio/voice/incoming",
        data=body,
        headers={"X-Twilio-Signature": signature,
                 "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400


async def test_too_many_fields_are_refused_before_the_signature_is_checked(
    client: QuartClient, settings: Settings
):
    body = "&".join(f"f{i}=1" for i in range(5000)).encode()
    response = await client.post(
        "/twilio/voice/incoming",
        data=body,
        headers={"X-Twilio-Signature": "forged",
                 "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert "parameters" in (await response.get_json())["error"]["message"]


async def test_body_larger_than_any_webhook_is_413(client: QuartClient, settings: Settings):
    response = await client.post(
        "/twilio/voice/status",
        data=b"Body=" + b"x" * 200_000,
        headers={"X-Twilio-Signature": "forged",
                 "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert await _error(response) == "webhook_too_large"


async def test_final_callback_before_the_call_row_is_applied_when_the_row_appears(
    client: QuartClient, settings: Settings, db_session: AsyncSession
):
    """The status callback won the race with the first webhook (another instance, a lock):
    the call it describes is closed and landed as soon as its row exists, not left ringing
    until the worker reconciles it."""
    sid = call_sid()
    final = voice_params(settings, sid=sid, status="completed", SequenceNumber="2",
                         CallDuration="7", CallbackSource="call-progress-events")
    early = await post_signed(client, settings, "/twilio/voice/status", final)
    assert early.status_code == 204
    first = await post_signed(
        client, settings, "/twilio/voice/incoming", voice_params(settings, sid=sid)
    )
    assert first.status_code == 200
    assert "<Hangup />" in await first.get_data(as_text=True)
    retry = await post_signed(client, settings, "/twilio/voice/status", final)
    assert retry.status_code == 204
    call = await calls.get_by_sid(db_session, sid=sid)
    assert call is not None
    assert call.status == CallStatus.completed
    assert call.outcome == Outcome.left_in_ivr
    assert call.duration_seconds == 7
    landed = await db_session.scalar(select(func.count()).where(TicketEvent.call_id == call.id))
    assert landed == 1

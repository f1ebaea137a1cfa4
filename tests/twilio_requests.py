"""Build webhook requests exactly as Twilio signs them, for tests that play Twilio's part."""

from __future__ import annotations

import secrets
from typing import Any

from quart import Response
from quart.testing import QuartClient
from twilio.request_validator import RequestValidator

from callcenter.config import Settings


def call_sid() -> str:
    return "CA" + secrets.token_hex(16)


def voice_params(
    settings: Settings,
    *,
    sid: str,
    from_: str = "+14155550100",
    to: str = "+15005550006",
    status: str = "ringing",
    **extra: Any,
) -> dict[str, str]:
    """The standard parameters of a voice webhook, as Twilio sends them."""
    params = {
        "CallSid": sid,
        "AccountSid": settings.twilio_account_sid,
        "From": from_,
        "To": to,
        "Caller": from_,
        "Called": to,
        "CallStatus": status,
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }
    params.update({key: str(value) for key, value in extra.items()})
    return params


async def post_signed(
    client: QuartClient,
    settings: Settings,
    path: str,
    params: dict[str, str],
    *,
    signature: str | None = None,
) -> Response:
    """POST `params` to `path` with the X-Twilio-Signature Twilio would compute."""
    url = settings.public_base_url + path
    validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
    headers = {"X-Twilio-Signature": signature or validator.compute_signature(url, params)}
    return await client.post(path, form=params, headers=headers)

"""Access Tokens for agents' softphones (Twilio's Voice SDK `Device`, or the emulator's
browser phone), made with twilio-python's `AccessToken` and `VoiceGrant`.

Signed with an API Key (`twilio_api_key_sid` / `twilio_api_key_secret`), never the
account's auth token, naming the agent's client identity and allowing incoming calls;
outgoing calls go through the TwiML App `twilio_twiml_app_sid` when one is set. The page
asks for a new one before the old one expires.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant

from callcenter.config import Settings


class TokensUnavailable(Exception):
    """No API Key is configured to sign tokens with."""


@dataclass(frozen=True)
class VoiceToken:
    token: str
    identity: str
    expires_at: dt.datetime


def voice_token(settings: Settings, *, identity: str) -> VoiceToken:
    """A token letting `identity` register and take calls for `voice_token_seconds`."""
    if not (settings.twilio_api_key_sid and settings.twilio_api_key_secret):
        raise TokensUnavailable(
            "softphone tokens need twilio_api_key_sid and twilio_api_key_secret"
        )
    ttl = settings.voice_token_seconds
    token = AccessToken(
        settings.twilio_account_sid,
        settings.twilio_api_key_sid,
        settings.twilio_api_key_secret.get_secret_value(),
        identity=identity,
        ttl=ttl,
    )
    token.add_grant(VoiceGrant(
        incoming_allow=True, outgoing_application_sid=settings.twilio_twiml_app_sid,
    ))
    expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=ttl)
    return VoiceToken(token=token.to_jwt(), identity=identity, expires_at=expires_at)


TWILIO_API = "https://api.twilio.com"
# Where Twilio's Voice SDK connects from an agent's browser (signalling and its event
# gateway), for the pages' Content-Security-Policy.
TWILIO_VOICE_SOURCES = ("wss://*.twilio.com", "https://*.twilio.com")


def emulator_phones(settings: Settings) -> str | None:
    """The bundled emulator's phone WebSocket base (`ws://host:port/_emulator/phones`) when
    the app talks to the emulator rather than Twilio, else None: the softphone page then
    registers the emulator's browser phone instead of Twilio's Voice SDK `Device`."""
    base = settings.twilio_api_base_url.rstrip("/")
    if base == TWILIO_API:
        return None
    return "ws" + base.removeprefix("http") + "/_emulator/phones"


def phone_config(settings: Settings) -> dict[str, str | None]:
    """What a page needs to open its phone: Twilio's Voice SDK, or the emulator's."""
    emulator = emulator_phones(settings)
    return {"mode": "emulator" if emulator else "twilio", "emulator": emulator}


def connect_sources(settings: Settings) -> tuple[str, ...]:
    """What the softphone may connect to besides the app: the emulator, or Twilio."""
    phones = emulator_phones(settings)
    if phones is None:
        return TWILIO_VOICE_SOURCES
    return (phones.rsplit("/_emulator/", 1)[0],)

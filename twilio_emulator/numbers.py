"""IncomingPhoneNumbers: where an inbound call or SMS to a number is sent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .calls import Source
from .sids import new_sid

if TYPE_CHECKING:
    from .engine import Engine

FIELDS = {
    "FriendlyName": "friendly_name", "VoiceUrl": "voice_url", "VoiceMethod": "voice_method",
    "VoiceFallbackUrl": "voice_fallback_url", "VoiceFallbackMethod": "voice_fallback_method",
    "StatusCallback": "status_callback", "StatusCallbackMethod": "status_callback_method",
    "SmsUrl": "sms_url", "SmsMethod": "sms_method", "SmsFallbackUrl": "sms_fallback_url",
    "SmsFallbackMethod": "sms_fallback_method",
}


@dataclass
class PhoneNumber:
    sid: str
    phone_number: str
    created: float
    updated: float
    friendly_name: str = ""
    voice_url: str | None = None
    voice_method: str = "POST"
    voice_fallback_url: str | None = None
    voice_fallback_method: str = "POST"
    status_callback: str | None = None
    status_callback_method: str = "POST"
    sms_url: str | None = None
    sms_method: str = "POST"
    sms_fallback_url: str | None = None
    sms_fallback_method: str = "POST"

    def source(self) -> Source:
        return Source(url=self.voice_url or None, method=self.voice_method,
                      fallback_url=self.voice_fallback_url,
                      fallback_method=self.voice_fallback_method,
                      twiml=None if self.voice_url else "<Response/>")

    def update(self, form: dict[str, str]) -> None:
        for param, attr in FIELDS.items():
            if param in form:
                value = form[param]
                if attr.endswith("method"):
                    value = (value or "POST").upper()
                setattr(self, attr, value)


class Numbers:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.by_sid: dict[str, PhoneNumber] = {}

    def create(self, phone_number: str, form: dict[str, str]) -> PhoneNumber:
        now = self.engine.now()
        number = PhoneNumber(new_sid("PN"), phone_number, now, now, friendly_name=phone_number)
        number.update(form)
        self.by_sid[number.sid] = number
        return number

    def by_number(self, phone_number: str) -> PhoneNumber | None:
        return next((n for n in self.by_sid.values() if n.phone_number == phone_number), None)

"""Device cookies (OWASP's defence against lockout abuse): the browsers a user signed in on.

After a successful sign-in the browser gets a signed, long-lived cookie naming the account.
The per-account lock applies only to attempts without one, so a stranger who trips it keeps
strangers out while the user, on their own browser, still gets in. A device guesses under
its own budget (`nonce`), so a stolen cookie does not bring unlimited guesses either.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "callcenter_device"
LIFETIME = dt.timedelta(days=365)
MAX_ACCOUNTS = 10


@dataclass(frozen=True)
class Device:
    nonce: str
    user_ids: tuple[int, ...] = ()

    def trusts(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.user_ids

    def remember(self, user_id: int) -> Device:
        """This device with `user_id` added (most recent last, the oldest dropped)."""
        kept = (*(uid for uid in self.user_ids if uid != user_id), user_id)
        return Device(nonce=self.nonce, user_ids=kept[-MAX_ACCOUNTS:])


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt="callcenter.device")


def read(secret_key: str, cookie: str | None) -> Device | None:
    """The device a cookie names, or None when absent, forged, malformed or too old."""
    if not cookie:
        return None
    try:
        data = _serializer(secret_key).loads(cookie, max_age=int(LIFETIME.total_seconds()))
        return Device(nonce=str(data["n"]), user_ids=tuple(int(uid) for uid in data["u"]))
    except (BadSignature, KeyError, TypeError, ValueError):
        return None


def new() -> Device:
    return Device(nonce=secrets.token_urlsafe(16))


def dump(secret_key: str, device: Device) -> str:
    return _serializer(secret_key).dumps({"n": device.nonce, "u": list(device.user_ids)})

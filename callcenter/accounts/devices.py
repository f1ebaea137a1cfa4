"""Device cookies (OWASP's defence against lockout abuse): the browsers a user signed in on.

After a successful sign-in the browser gets a signed, long-lived cookie naming the account
(and a stamp of its password, so a new password ends that trust).
The per-account lock applies only to attempts without one, so a stranger who trips it keeps
strangers out while the user, on their own browser, still gets in. A device guesses under
its own budget (`nonce`), so a stolen cookie does not bring unlimited guesses either.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "callcenter_device"
LIFETIME = dt.timedelta(days=365)
MAX_ACCOUNTS = 10


def _stamp(password_hash: str | None) -> str:
    """What ties a device's trust to the password it signed in with: a new password (after
    a compromise, say) ends the trust of every browser that knew the old one."""
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Device:
    nonce: str
    accounts: tuple[tuple[int, str], ...] = ()

    def trusts(self, user_id: int | None, password_hash: str | None) -> bool:
        return user_id is not None and (user_id, _stamp(password_hash)) in self.accounts

    def knows_some_account(self) -> bool:
        return bool(self.accounts)

    def remember(self, user_id: int, password_hash: str | None) -> Device:
        """This device with the account added (most recent last, the oldest dropped)."""
        kept = (*(entry for entry in self.accounts if entry[0] != user_id),
                (user_id, _stamp(password_hash)))
        return Device(nonce=self.nonce, accounts=kept[-MAX_ACCOUNTS:])


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt="callcenter.device")


def read(secret_key: str, cookie: str | None) -> Device | None:
    """The device a cookie names, or None when absent, forged, malformed or too old."""
    if not cookie:
        return None
    try:
        data = _serializer(secret_key).loads(cookie, max_age=int(LIFETIME.total_seconds()))
        accounts = tuple((int(uid), str(stamp)) for uid, stamp in data["a"])
        return Device(nonce=str(data["n"]), accounts=accounts)
    except (BadSignature, KeyError, TypeError, ValueError):
        return None


def new() -> Device:
    return Device(nonce=secrets.token_urlsafe(16))


def dump(secret_key: str, device: Device) -> str:
    return _serializer(secret_key).dumps({"n": device.nonce, "a": list(device.accounts)})

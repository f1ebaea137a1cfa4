"""How a webhook's body is signed, and how a receiver checks it.

The header is `X-Callcenter-Signature: t=<unix seconds>,v1=<hex>`, where the hex is
HMAC-SHA256 with the webhook's secret over `"<t>.<body>"`. Signing the time with the body
lets a receiver refuse an old message replayed at it (`verify`'s `tolerance`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

HEADER = "X-Callcenter-Signature"
TOLERANCE_SECONDS = 300


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The signature header's value for `body`, sent now (or at `timestamp`)."""
    at = int(time.time()) if timestamp is None else timestamp
    return f"t={at},v1={_digest(secret, at, body)}"


def verify(
    secret: str, body: bytes, header: str, *, tolerance: int = TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """Whether `header` signs `body` with `secret`, no more than `tolerance` seconds ago."""
    parts = [tuple(part.strip().split("=", 1)) for part in header.split(",") if "=" in part]
    stamps = [value for key, value in parts if key == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    at = int(stamps[0])
    if abs((time.time() if now is None else now) - at) > tolerance:
        return False
    expected = _digest(secret, at, body)
    return any(hmac.compare_digest(expected, value) for key, value in parts if key == "v1")

"""Access Tokens, checked as Twilio checks the ones a Voice SDK `Device` registers with.

A token is a JWT signed (HS256) with an API Key's secret: header `cty: twilio-fpa;v=1`,
`iss` the API Key SID, `sub` the account SID, `exp` at most 24 hours after `nbf` (or
`iat`, or now), and `grants.identity` with a `grants.voice` grant. A phone registering with one
must be the identity it names, and its voice grant must allow incoming calls.
"""

from __future__ import annotations

import time
from typing import Any

import jwt

MAX_LIFETIME = 24 * 3600


class TokenError(Exception):
    """A refused token, with Twilio's error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def check_voice_token(
    token: str, *, account_sid: str, api_keys: dict[str, str], identity: str,
    now: float | None = None,
) -> dict[str, Any]:
    """The token's claims if it lets `identity` take incoming calls; TokenError if not."""
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise TokenError(20101, "Invalid Access Token") from None
    if header.get("alg") != "HS256" or header.get("cty") != "twilio-fpa;v=1":
        raise TokenError(20101, "Invalid Access Token header")
    secret = api_keys.get(str(unverified.get("iss", "")))
    if secret is None or unverified.get("sub") != account_sid:
        raise TokenError(20103, "Invalid Access Token issuer/subject")
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"],
                            options={"verify_exp": False, "verify_nbf": False})
    except jwt.PyJWTError:
        raise TokenError(20101, "Invalid Access Token signature") from None
    moment = time.time() if now is None else now
    # Lifetime from nbf, else iat, else now (twilio-python's tokens carry no iat).
    exp, start = claims.get("exp"), claims.get("nbf", claims.get("iat", moment))
    if not isinstance(exp, int) or exp <= moment or exp - start > MAX_LIFETIME:
        raise TokenError(20104, "Access Token expired or expiration date invalid")
    grants = claims.get("grants") or {}
    voice = grants.get("voice") or {}
    if grants.get("identity") != identity or not (voice.get("incoming") or {}).get("allow"):
        raise TokenError(20101, f"the token does not let {identity!r} take incoming calls")
    return claims

"""X-Twilio-Signature, computed exactly as twilio-python's RequestValidator checks it."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable


def signature(auth_token: str, url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    """base64(HMAC-SHA1(token, url + name+value for each param sorted by name then value)).

    A repeated name contributes once per distinct value, as the validator does.
    """
    pairs = sorted(set(params))
    data = url + "".join(name + value for name, value in pairs)
    mac = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def json_body_url(url: str, body: str) -> str:
    """The URL to request (and sign, without params) for a JSON body: adds bodySHA256."""
    digest = hashlib.sha256(body.encode()).hexdigest()
    return url + ("&" if "?" in url else "?") + "bodySHA256=" + digest

"""Who is on the other end: the client's address, for the logs and the login throttle.

X-Forwarded-For is anyone's to write, so it is believed only as far as the configured
number of proxies (`trusted_proxies`) that each append the address they received from:
the client is that many entries from the right. With none (the default) it is ignored.
"""

from __future__ import annotations

from quart import g, has_request_context, request, websocket

from callcenter.http.context import settings

UNKNOWN = "unknown"


def forwarded_client(header: str, *, proxies: int) -> str | None:
    """The address `proxies` entries from the right of an X-Forwarded-For value, if present."""
    if proxies == 0:
        return None
    entries = [entry.strip() for entry in header.split(",")]
    if len(entries) < proxies or not entries[-proxies]:
        return None
    return entries[-proxies][:64]


def client_address() -> str:
    """The request's (or websocket's) client address, worked out once per request."""
    if "client_address" not in g:
        asking = request if has_request_context() else websocket
        peer = (asking.scope.get("client") or (UNKNOWN,))[0]
        header = ", ".join(asking.headers.getlist("X-Forwarded-For"))
        forwarded = forwarded_client(header, proxies=settings().trusted_proxies) if header else None
        g.client_address = forwarded or peer
    return g.client_address

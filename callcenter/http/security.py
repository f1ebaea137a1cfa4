"""Headers on every response that tell browsers to refuse what the app never does.

Scripts, styles and images come from the app itself (audio also from the page's own
blobs: the emulator's phone plays the caller's speech), connections go to the app and the
softphone's service, pages are never framed (clickjacking), types are never sniffed, and
other sites are not told which page a link was on. The API docs
page (quart-schema's Swagger UI) starts Swagger with one inline script: that page alone also
allows that script, by its hash, so no other inline script runs there either.
"""

from __future__ import annotations

import base64
import hashlib
import re

from quart import Quart, Response, g, request

POLICY = (
    "default-src 'self'; script-src 'self'{scripts}; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'{connect}; media-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
HSTS = "max-age=31536000"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def script_hashes(page: str) -> str:
    """CSP sources for each inline script on a page: `'sha256-...'`, space-separated."""
    return "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
        for body in _INLINE_SCRIPT.findall(page)
    )


def register(
    app: Quart, *, docs_path: str, https: bool, connect: tuple[str, ...] = ()
) -> None:
    """Send the headers on every response; Strict-Transport-Security when served over TLS.
    `connect` are the origins pages may open connections to besides the app itself (the
    softphone's: Twilio's Voice SDK, or the emulator's phones)."""
    sources = "".join(f" {source}" for source in connect)

    @app.after_request
    async def _headers(response: Response) -> Response:
        scripts = ""
        if request.path == docs_path and response.mimetype == "text/html":
            scripts = script_hashes(await response.get_data(as_text=True))
        policy = POLICY.format(scripts=scripts, connect=sources)
        response.headers["Content-Security-Policy"] = policy
        for name, value in HEADERS.items():
            response.headers[name] = value
        if https:
            response.headers["Strict-Transport-Security"] = HSTS
        if g.get("user") is not None:
            # A page for a signed-in user must not be served again from the cache (the back
            # button after signing out on a shared computer).
            response.headers.setdefault("Cache-Control", "no-store")
        return response

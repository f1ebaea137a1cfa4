"""Shared REST plumbing: Basic auth, Twilio's error JSON, form parsing and list pages."""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiDictProxy

from ..clock import rfc2822

if TYPE_CHECKING:
    from ..engine import Engine

API = "/2010-04-01/Accounts/{AccountSid}"
ENGINE_KEY: web.AppKey[Engine] = web.AppKey("engine")
MESSAGES = {20003: "Authenticate", 20404: "The requested resource {path} was not found"}


class TwilioError(web.HTTPException):
    """An error answered with Twilio's JSON body {code, message, more_info, status}."""

    def __init__(self, status: int, code: int, message: str) -> None:
        self.status_code = status
        body = {"code": code, "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}
        super().__init__(text=_json(body), content_type="application/json")


def _json(data: Any) -> str:
    import json

    return json.dumps(data)


def not_found(request: web.Request) -> TwilioError:
    return TwilioError(404, 20404, f"The requested resource {request.path} was not found")


def bad_request(code: int, message: str) -> TwilioError:
    return TwilioError(400, code, message)


def engine_of(request: web.Request) -> Engine:
    return request.app[ENGINE_KEY]


def check_auth(request: web.Request, engine: Engine, keys: dict[str, str]) -> None:
    """HTTP Basic with AccountSid:AuthToken or an API key SID:secret; else 401/20003."""
    header = request.headers.get("Authorization", "")
    user = password = ""
    if header.startswith("Basic "):
        with contextlib.suppress(binascii.Error, UnicodeDecodeError):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    ok = (user == engine.account_sid and password == engine.auth_token) or (
        user in keys and keys[user] == password)
    if not ok:
        raise TwilioError(401, 20003, "Authenticate")
    if request.match_info.get("AccountSid", engine.account_sid) != engine.account_sid:
        raise not_found(request)


async def form(request: web.Request) -> MultiDictProxy[str]:
    data = await request.post()
    return data  # type: ignore[return-value]


def one(data: MultiDictProxy[str], name: str, default: str | None = None) -> str | None:
    value = data.get(name)
    return str(value) if value is not None else default


def as_bool(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.strip().lower() == "true"


def date(engine: Engine, t: float | None) -> str | None:
    return None if t is None else rfc2822(engine.clock.datetime(t))


def page(request: web.Request, key: str, items: list[Any],
         serialize: Callable[[Any], dict[str, Any]], filters: dict[str, str] | None = None
         ) -> web.Response:
    """A Twilio list page: the records under ``key`` plus the paging keys, nothing else."""
    q = request.query
    try:
        size = max(1, min(1000, int(q.get("PageSize", "50"))))
        number = max(0, int(q.get("Page", "0")))
    except ValueError as exc:
        raise bad_request(20001, "Invalid paging parameter") from exc
    kept = {k: v for k, v in (filters or {}).items() if v}

    def uri(p: int) -> str:
        extra = {"PageSize": size, "Page": p}
        if p:
            extra["PageToken"] = f"PA{p}"
        return f"{request.path}?{urlencode({**kept, **extra})}"

    start = number * size
    chunk = items[start:start + size]
    body = {
        key: [serialize(i) for i in chunk],
        "end": start + max(len(chunk), 1) - 1,
        "first_page_uri": uri(0),
        "next_page_uri": uri(number + 1) if start + size < len(items) else None,
        "page": number,
        "page_size": size,
        "previous_page_uri": uri(number - 1) if number > 0 else None,
        "start": start,
        "uri": uri(number),
    }
    return web.json_response(body)


def json(data: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(data, status=status)

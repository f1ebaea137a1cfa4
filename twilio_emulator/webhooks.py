"""Outgoing HTTP requests to the app, made the way Twilio makes them.

Form-encoded POST (or GET with the parameters in the query), signed with
X-Twilio-Signature, with Twilio's headers and timeouts: 15 s in all (connection attempts
included), TCP connect 5 s tried twice, overridable by the URL fragment
``#ct=..&rt=..&tt=..&rc=..`` (values in milliseconds, retry count), which is never sent.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urldefrag, urlencode

import aiohttp

from .signing import signature

if TYPE_CHECKING:
    from .clock import Clock

USER_AGENT = "TwilioProxy/1.1"
CONNECT_TIMEOUT: tuple[type[BaseException], ...] = tuple(
    t for t in (getattr(aiohttp, "ConnectionTimeoutError", None),) if t is not None)
"""aiohttp's TCP-connect timeout (aiohttp >= 3.10); older versions cannot tell it from a
read timeout, so there a connect timeout is not retried."""


@dataclass
class Timeouts:
    connect: float = 5.0
    read: float = 15.0
    total: float = 15.0
    retries: int = 1


@dataclass
class WebhookResult:
    """What came back; ``error`` holds a Twilio error code when no response came, as
    Twilio's error dictionary words them: 11202 (TCP connection refused: nothing
    listening, every attempt rejected), 11205 (HTTP connection failure: the TCP connect
    timed out on every attempt, the read timed out, the 15 s total ran out, or another
    network error while connecting), 11210 (HTTP bad host name: DNS) or 11200 (HTTP
    retrieval failure: any other transport error). A 4xx/5xx answer is not an ``error``
    here; callers classify it (11217 for documents, 15003 for callbacks). ``size`` is
    the body's length in bytes."""

    url: str
    status: int = 0
    content_type: str = ""
    body: str = ""
    size: int = 0
    error: int | None = None
    message: str = ""


def split_fragment(url: str) -> tuple[str, Timeouts]:
    """Strip the fragment and read Twilio's connection overrides from it."""
    clean, fragment = urldefrag(url)
    t = Timeouts()
    for key, value in parse_qsl(fragment):
        try:
            number = int(value)
        except ValueError:
            continue
        if key == "ct":
            t.connect = number / 1000
        elif key == "rt":
            t.read = number / 1000
        elif key == "tt":
            t.total = number / 1000
        elif key == "rc":
            t.retries = max(0, number)
    return clean, t


class WebhookSender:
    """Signs and sends webhook requests; never raises for app-side failures."""

    def __init__(self, auth_token: str, clock: Clock) -> None:
        self.auth_token = auth_token
        self.clock = clock
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session:
            await self._session.close()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, force_close=True)
            )
        return self._session

    async def send(
        self, url: str, params: list[tuple[str, str]], method: str = "POST"
    ) -> WebhookResult:
        url, limits = split_fragment(url)
        method = (method or "POST").upper()
        headers = {
            "User-Agent": USER_AGENT,
            "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
            "Accept": "*/*",
            "Cache-Control": "max-age=259200",
        }
        if method == "GET":
            sep = "&" if "?" in url else "?"
            target = url + (sep + urlencode(params) if params else "")
            headers["X-Twilio-Signature"] = signature(self.auth_token, target)
            data = None
        else:
            method = "POST"
            target = url
            headers["X-Twilio-Signature"] = signature(self.auth_token, url, params)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            data = urlencode(params)
        result = WebhookResult(url=url)
        # The total budget covers every attempt (Twilio: "this includes the TCP
        # connection time"), so it is one deadline around the loop.
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=limits.connect, sock_read=limits.read
        )
        attempts = limits.retries + 1
        with self.clock.busy():
            try:
                async with asyncio.timeout(limits.total):
                    for _ in range(attempts):
                        try:
                            async with self._get_session().request(
                                method, target, data=data, headers=headers, timeout=timeout
                            ) as resp:
                                result.status = resp.status
                                result.content_type = resp.headers.get("Content-Type", "")
                                result.size = len(await resp.read())
                                result.body = await resp.text(errors="replace")
                                result.error = None
                                return result
                        except aiohttp.ClientConnectorError as exc:
                            if isinstance(exc.os_error, socket.gaierror):
                                result.error, result.message = 11210, f"bad host name: {exc}"
                                break
                            if isinstance(exc.os_error, ConnectionRefusedError):
                                result.error = 11202
                                result.message = (f"TCP connection refused ({attempts} "
                                                  f"attempts): {exc}")
                            else:
                                result.error, result.message = 11205, f"connection failed: {exc}"
                            continue
                        except CONNECT_TIMEOUT as exc:
                            result.error = 11205
                            result.message = (f"TCP connect timed out ({attempts} attempts of "
                                              f"{limits.connect:g} s): {exc!r}")
                            continue
                        except TimeoutError as exc:
                            result.error, result.message = 11205, f"read timed out: {exc!r}"
                        except aiohttp.ClientError as exc:
                            result.error, result.message = 11200, f"request failed: {exc}"
                        break
            except TimeoutError:
                result.status = 0
                result.error = 11205
                result.message = f"no complete response within the {limits.total:g} s total"
        return result

"""Logging set-up: dotted event names, a request id on every line, JSON when asked for.

Call sites log an event name as the message and facts as `extra`, e.g.
`log.info("telephony.webhook.rejected", extra={"call_sid": sid})`. Credentials are never
passed to a logger; `RedactingFilter` is a second line of defence for the obvious keys.
"""

from __future__ import annotations

import contextvars
import logging
import sys

from pythonjsonlogger.json import JsonFormatter

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

_SECRET_KEYS = {
    "password", "token", "authorization", "auth_token", "secret", "api_key_secret",
    "cookie", "session_key", "csrf_token",
}
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}
# Control characters written as escapes: a value a client chose (a typed email) cannot
# start a line of its own that looks like another event.
_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F)} | {
    ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t",
}


class RequestIdFilter(logging.Filter):
    """Stamp each record with the id of the request (or job) it was logged under."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class RedactingFilter(logging.Filter):
    """Blank any `extra` value whose key names a credential, should one ever be passed."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key in list(record.__dict__):
            if key.lower() in _SECRET_KEYS:
                record.__dict__[key] = "[redacted]"
        return True


class TextFormatter(logging.Formatter):
    """`time level event key=value ...`: readable in a terminal, greppable by event name."""

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(
            f"{key}={value}" for key, value in record.__dict__.items() if key not in _STANDARD
        )
        line = f"{self.formatTime(record)} {record.levelname:<7} [{record.request_id}] "  # type: ignore[attr-defined]
        line += f"{record.getMessage()} {extras}".rstrip().translate(_ESCAPES)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure(*, level: str = "INFO", fmt: str = "text") -> None:
    """Install one handler on the root logger; safe to call again (tests, the demo)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactingFilter())
    formatter: logging.Formatter
    if fmt == "json":
        formatter = JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"message": "event", "levelname": "level"},
        )
    else:
        formatter = TextFormatter()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # twilio-python logs every REST request and its headers at INFO; Alembic its internals.
    quiet = (
        "hypercorn.access",
        "aiosqlite",
        "asyncio",
        "twilio.http_client",
        "twilio.async_http_client",  # logs every REST request's URL, with callers' numbers
        "alembic.runtime",
    )
    for noisy in quiet:
        logging.getLogger(noisy).setLevel(logging.WARNING)

"""The shape of what Twilio sends: a webhook's body, its parameters and our own query args.

Twilio's requests are small, URL-encoded forms whose SIDs, numbers and times have fixed
shapes. Everything is checked here, at the edge, before any handler or database sees it:
a body too large or with too many fields is refused before it is parsed or HMAC'd, and a
signed request whose values cannot be Twilio's is a 400 that names the parameter. So no
handler meets a 5,000-character CallSid, a SequenceNumber `int()` cannot read, a number
wider than its column, or a control character that would make TwiML unreadable.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from collections.abc import Mapping
from urllib.parse import parse_qsl

from werkzeug.datastructures import MultiDict

from callcenter.errors import APIError
from callcenter.telephony.models import CallStatus

# Twilio's webhooks are a few kilobytes with a few dozen fields; these leave ample room.
MAX_BODY_BYTES = 64 * 1024
MAX_FIELDS = 200
MAX_VALUE_CHARS = 4096

# Parameters we read, by the two-letter prefix of Twilio's SID for them (prefix + 32 hex).
SID_PREFIXES = {
    "AccountSid": "AC",
    "CallSid": "CA",
    "ParentCallSid": "CA",
    "DialCallSid": "CA",
    "QueueSid": "QU",
    "RecordingSid": "RE",
    "ConferenceSid": "CF",
}
_SID = re.compile(r"[A-Z]{2}[0-9a-f]{32}")
_STATUSES = frozenset(status.value for status in CallStatus)

# Counts and seconds: ASCII digits that fit our integer columns (int() takes `²` and `١`).
INTEGERS = (
    "SequenceNumber", "CallDuration", "Duration", "DialCallDuration", "QueueTime",
    "QueuePosition", "CurrentQueueSize", "AvgQueueTime", "RecordingDuration",
    "RecordingChannels", "attempt", "reservation",
)
_INTEGER = re.compile(r"[0-9]{1,9}")

# Parameters kept in columns of a fixed width: never longer than the column, on any backend.
MAX_CHARS = {
    "From": 255, "To": 255, "Caller": 255, "Called": 255,
    "RecordingUrl": 500, "QueueResult": 20, "CallbackSource": 40, "node": 100,
    "Digits": 64,
}

# Control characters, most of which XML 1.0 cannot carry; Twilio never sends them (tab,
# newline and return are fine). TwiML we answer with is stripped of them too.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")

# A Timestamp outside this range is no callback's: refused before datetime arithmetic
# overflows on it (year 9999 at -14:00 is past datetime.max in UTC).
_EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def malformed(message: str) -> APIError:
    return APIError(400, "malformed_webhook", message)


def too_large() -> APIError:
    return APIError(413, "webhook_too_large", f"a webhook body is at most {MAX_BODY_BYTES} bytes")


def parse_form(body: bytes) -> MultiDict[str, str]:
    """A URL-encoded body as Twilio sent it (repeated names kept: all are signed)."""
    try:
        text = body.decode("ascii")
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError:
        raise malformed("the body is not URL-encoded UTF-8") from None
    except ValueError:
        raise malformed(f"a webhook has at most {MAX_FIELDS} parameters") from None
    return MultiDict(pairs)


def timestamp(raw: str) -> dt.datetime | None:
    """Twilio's RFC 2822 Timestamp as aware UTC; None when absent or unreadable."""
    if not raw:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(raw)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        parsed = parsed.astimezone(dt.UTC)
    except (TypeError, ValueError, OverflowError):
        return None
    return parsed if _EARLIEST <= parsed < _LATEST else None


def check(params: Mapping[str, str], *, account_sid: str) -> None:
    """Refuse values Twilio cannot have sent (400), or another account's request (403)."""
    for name, value in params.items():
        if len(value) > MAX_CHARS.get(name, MAX_VALUE_CHARS):
            raise malformed(f"{name} is longer than {MAX_CHARS.get(name, MAX_VALUE_CHARS)} "
                            "characters")
        if CONTROL.search(value) or CONTROL.search(name):
            raise malformed(f"{name[:40]!r} holds a control character")
    for name, prefix in SID_PREFIXES.items():
        value = params.get(name, "")
        if value and (not _SID.fullmatch(value) or not value.startswith(prefix)):
            raise malformed(f"{name} is not a Twilio {prefix} SID")
    for name in INTEGERS:
        value = params.get(name, "")
        if value and not _INTEGER.fullmatch(value):
            raise malformed(f"{name} must be a whole number below 10^9")
    if params.get("Timestamp") and timestamp(params["Timestamp"]) is None:
        raise malformed("Timestamp is not an RFC 2822 date")
    status = params.get("CallStatus", "")
    if status and status not in _STATUSES:
        raise malformed(f"CallStatus {status!r} is not one of Twilio's")
    if params.get("AccountSid") and params["AccountSid"] != account_sid:
        raise APIError(403, "wrong_account", "the request is for another Twilio account")


"""Phone numbers in E.164, the one form every table stores and every lookup uses."""

from __future__ import annotations

import phonenumbers

# What Twilio sends in From for a withheld or unknown caller id.
ANONYMOUS_VALUES = {
    "",
    "anonymous",
    "restricted",
    "unknown",
    "private",
    "unavailable",
    "+266696687",
}


def is_anonymous(raw: str) -> bool:
    return raw.strip().lower() in ANONYMOUS_VALUES


def to_e164(raw: str, *, region: str | None = None) -> str | None:
    """`raw` in E.164, or None when it is not a possible phone number (or a client: leg)."""
    if is_anonymous(raw) or raw.startswith(("client:", "sip:")):
        return None
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

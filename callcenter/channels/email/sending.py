"""Agents' replies as mail: the message built (text and HTML, threading headers, the
ticket token in the subject, attachments) and handed to the relay with `aiosmtplib`."""

from __future__ import annotations

import email.utils
import html
import re
from dataclasses import dataclass, field
from email.message import EmailMessage

import aiosmtplib

from callcenter.config import Settings

# A relay's answer of 5xx refuses the message for good; anything else may pass later.
_PERMANENT = re.compile(r"^5\d\d")


@dataclass(frozen=True)
class Mailroom:
    """Where mail comes in and goes out, from the settings."""

    support_address: str
    attachment_limit: int
    relay_host: str
    relay_port: int
    relay_username: str | None = None
    relay_password: str | None = field(default=None, repr=False)
    relay_starttls: bool = False

    @classmethod
    def of(cls, settings: Settings) -> Mailroom:
        return cls(
            support_address=settings.support_address.lower(),
            attachment_limit=settings.email_attachment_limit_bytes,
            relay_host=settings.smtp_host,
            relay_port=settings.smtp_port,
            relay_username=settings.smtp_username,
            relay_password=(
                settings.smtp_password.get_secret_value() if settings.smtp_password else None
            ),
            relay_starttls=settings.smtp_starttls,
        )

    @property
    def domain(self) -> str:
        return self.support_address.rpartition("@")[2] or "localhost"


@dataclass(frozen=True)
class Outgoing:
    sender: str
    sender_name: str
    to: str
    subject: str
    text: str
    in_reply_to: str | None
    references: list[str]
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)


class SendError(Exception):
    """The relay did not take the message; `permanent` when it refused it for good."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


def reply_subject(subject: str, ticket_id: int) -> str:
    """`Re: <subject> [#<ticket>]`: the token threads a reply whose client dropped the
    headers."""
    base = re.sub(r"\s*\[#\d+\]", "", subject).strip() or "Your request"
    if not re.match(r"^re:", base, re.IGNORECASE):
        base = f"Re: {base}"
    return f"{base} [#{ticket_id}]"


def build(outgoing: Outgoing, *, domain: str) -> tuple[bytes, str]:
    """The message's bytes and its Message-ID."""
    message = EmailMessage()
    message_id = email.utils.make_msgid(domain=domain)
    message["Message-ID"] = message_id
    message["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    message["From"] = email.utils.formataddr((outgoing.sender_name, outgoing.sender))
    message["To"] = outgoing.to
    message["Subject"] = outgoing.subject
    # Our own mail never starts an auto-reply loop, and says it is a person's reply.
    message["Auto-Submitted"] = "no"
    if outgoing.in_reply_to:
        message["In-Reply-To"] = outgoing.in_reply_to
    if outgoing.references:
        message["References"] = " ".join(outgoing.references[-20:])
    message.set_content(outgoing.text)
    paragraphs = "".join(
        f"<p>{html.escape(block).replace(chr(10), '<br>')}</p>"
        for block in re.split(r"\n\s*\n", outgoing.text.strip()) if block.strip()
    )
    message.add_alternative(f"<!doctype html><html><body>{paragraphs}</body></html>",
                            subtype="html")
    for filename, content_type, content in outgoing.attachments:
        maintype, _, subtype = content_type.partition("/")
        message.add_attachment(content, maintype=maintype or "application",
                               subtype=subtype or "octet-stream", filename=filename)
    return message.as_bytes(), message_id


async def send(mailroom: Mailroom, *, sender: str, recipients: list[str], raw: bytes) -> None:
    """Hand the message to the relay; SendError says why it did not take it."""
    try:
        await aiosmtplib.send(
            raw, sender=sender, recipients=recipients, hostname=mailroom.relay_host,
            port=mailroom.relay_port, username=mailroom.relay_username,
            password=mailroom.relay_password, start_tls=mailroom.relay_starttls,
            timeout=30,
        )
    except aiosmtplib.SMTPRecipientsRefused as error:
        raise SendError(f"the relay refused every recipient: {error}", permanent=True) from error
    except aiosmtplib.SMTPResponseException as error:
        text = f"{error.code} {error.message}"
        raise SendError(f"the relay refused it: {text}",
                        permanent=bool(_PERMANENT.match(str(error.code)))) from error
    except (aiosmtplib.SMTPException, OSError) as error:
        raise SendError(f"the relay could not be reached: {error}", permanent=False) from error

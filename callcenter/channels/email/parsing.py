"""What an email says, read from its raw bytes with the standard library's `email` package
(`policy.default`): the sender, the threading ids, the text the timeline shows (quoted
replies and signatures folded away), the HTML sanitised, the attachments, and whether it
is noise (an auto-reply, a bounce) that must never open a ticket or be answered.

Mail is hostile input. Nothing here raises on what a sender can put in a message: a
header that does not parse is read raw, a charset Python does not know or that lies is
read as UTF-8 and then Windows-1252 (the usual truth), 8-bit bytes in headers likewise,
and each such repair is listed in `Parsed.problems` for the event to show.
"""

from __future__ import annotations

import codecs
import datetime as dt
import email
import email.header
import email.utils
import hashlib
import re
from dataclasses import dataclass, field
from email import policy
from email.message import Message
from html.parser import HTMLParser

import nh3

# Tags the sanitised HTML keeps besides nh3's defaults; `cid:` lets inline images show.
URL_SCHEMES = {"http", "https", "mailto", "cid"}
# Subject tokens our replies carry, the fallback when a client drops the threading headers.
TICKET_TOKEN = re.compile(r"\[#(\d{1,12})\]")
_NOISE_PRECEDENCE = {"bulk", "junk", "auto_reply"}
_BOUNCE_SENDERS = ("mailer-daemon@", "postmaster@")
_QUOTE_INTRO = re.compile(
    r"^(on\b.{0,300}\bwrote:|le\b.{0,300}\ba écrit ?:|am\b.{0,300}\bschrieb\b.{0,100}:"
    r"|-{2,}\s*original message\s*-{2,}|_{10,})\s*$",
    re.IGNORECASE,
)
_OUTLOOK_FROM = re.compile(r"^from:\s.+", re.IGNORECASE)


@dataclass
class Attachment:
    filename: str
    content_type: str
    content: bytes
    content_id: str | None = None


@dataclass
class Parsed:
    message_id: str
    sender: str | None
    sender_name: str
    to: list[str]
    cc: list[str]
    subject: str
    sent_at: dt.datetime | None
    in_reply_to: list[str]
    references: list[str]
    text: str  # what the customer wrote this time
    quoted: str  # the quoted reply and signature below it, folded on the timeline
    html: str | None  # sanitised
    attachments: list[Attachment] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # attachments over the limit
    noise: str | None = None  # why it is an auto-reply or bulk mail, when it is
    bounce: bool = False
    bounced: list[str] = field(default_factory=list)  # Message-IDs of what bounced
    problems: list[str] = field(default_factory=list)

    @property
    def thread_ids(self) -> list[str]:
        """The ids this message answers, nearest first."""
        return [*self.in_reply_to, *reversed(self.references)]

    def ticket_token(self) -> int | None:
        found = TICKET_TOKEN.search(self.subject)
        return int(found.group(1)) if found else None


def parse(raw: bytes, *, attachment_limit: int) -> Parsed:
    """Read a message; attachments larger than `attachment_limit` bytes are dropped (each
    named in `dropped`). Never raises for what is in `raw`."""
    message = email.message_from_bytes(raw, policy=policy.default)
    problems: list[str] = []
    headers = _Headers(message, problems)
    sender_name, sender = headers.address("From")
    own_ids = headers.ids("Message-ID")
    parsed = Parsed(
        message_id=own_ids[0] if own_ids else synthetic_id(raw),
        sender=sender,
        sender_name=sender_name,
        to=headers.addresses("To"),
        cc=headers.addresses("Cc"),
        subject=headers.text("Subject")[:300],
        sent_at=headers.date("Date"),
        in_reply_to=headers.ids("In-Reply-To"),
        references=headers.ids("References"),
        text="",
        quoted="",
        html=None,
        problems=problems,
    )
    if not parsed.message_id.startswith("<"):
        parsed.problems.append("no Message-ID: one was made from the content")
    body, html = _Body(parsed, attachment_limit).read(message)
    if html is not None:
        parsed.html = nh3.clean(html, url_schemes=URL_SCHEMES)
        if not body.strip():
            body = html_to_text(html)
    parsed.text, parsed.quoted = fold(body)
    parsed.noise = _noise(headers)
    parsed.bounce = _is_bounce(message, sender)
    if parsed.bounce:
        parsed.bounced = _bounced_ids(message) or parsed.thread_ids
    return parsed


def synthetic_id(raw: bytes) -> str:
    """The id of a message that has none: the same bytes delivered twice get the same."""
    return f"no-message-id-{hashlib.sha256(raw).hexdigest()[:40]}"


def clean_text(value: str) -> str:
    """Text from a header or a part, with undecodable bytes (kept as surrogates by the
    parser) read as UTF-8, or else Windows-1252: never a string the database refuses."""
    try:
        value.encode("utf-8")
        return value.replace("\x00", "")
    except UnicodeEncodeError:
        data = value.encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8").replace("\x00", "")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace").replace("\x00", "")


class _Headers:
    """Header values read leniently: the raw value decoded by hand when the parsed one
    fails (an unknown charset in an encoded word, a malformed address list)."""

    def __init__(self, message: Message, problems: list[str]) -> None:
        self.message = message
        self.problems = problems
        self.raw = {}
        for name, value in message.raw_items():
            self.raw.setdefault(name.lower(), str(value))

    def text(self, name: str) -> str:
        raw = self.raw.get(name.lower())
        if raw is None:
            return ""
        try:
            parts = email.header.decode_header(raw)
            decoded = []
            for chunk, charset in parts:
                if isinstance(chunk, str):
                    decoded.append(chunk)
                else:
                    decoded.append(_decode(chunk, charset, self.problems, where=name))
            value = "".join(decoded)
        except Exception:
            self.problems.append(f"the {name} header could not be decoded: read raw")
            value = raw
        return " ".join(clean_text(value).split())

    def addresses(self, name: str) -> list[str]:
        found = []
        for _name, address in email.utils.getaddresses([self.text(name)]):
            address = address.strip().lower()
            if "@" in address and address not in found:
                found.append(address)
        return found

    def address(self, name: str) -> tuple[str, str | None]:
        pairs = email.utils.getaddresses([self.text(name)])
        for display, address in pairs:
            if "@" in address:
                return display.strip().strip('"'), address.strip().lower()
        return "", None

    def ids(self, name: str) -> list[str]:
        return re.findall(r"<[^<>\s]{1,290}>", self.text(name))

    def date(self, name: str) -> dt.datetime | None:
        try:
            when = email.utils.parsedate_to_datetime(self.text(name))
        except (TypeError, ValueError, IndexError):
            return None
        return when if when.tzinfo else when.replace(tzinfo=dt.UTC)

    def get(self, name: str) -> str:
        return self.text(name).lower()


def _decode(data: bytes, charset: str | None, problems: list[str], *, where: str) -> str:
    """Bytes in their declared charset; an unknown or lying one falls back to UTF-8, then
    Windows-1252, and says so."""
    declared = (charset or "us-ascii").strip().lower()
    try:
        codecs.lookup(declared)
    except LookupError:
        problems.append(f"{where}: unknown charset {declared!r}")
        declared = ""
    if declared:
        try:
            return data.decode(declared)
        except UnicodeDecodeError:
            if declared not in ("us-ascii", "ascii"):
                problems.append(f"{where}: not valid {declared}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


class _Body:
    """The first text and HTML parts that are not attachments, and the attachments."""

    def __init__(self, parsed: Parsed, limit: int) -> None:
        self.parsed = parsed
        self.limit = limit

    def read(self, message: Message) -> tuple[str, str | None]:
        text: str | None = None
        html: str | None = None
        for part in message.walk():
            if part.is_multipart():
                continue
            kind = part.get_content_type()
            disposition = _safe(part.get_content_disposition)
            filename = _safe(part.get_filename)
            inline_text = disposition != "attachment" and not filename
            if kind == "text/plain" and inline_text and text is None:
                text = self._text(part, "the text part")
            elif kind == "text/html" and inline_text and html is None:
                html = self._text(part, "the HTML part")
            elif kind.startswith(("message/", "text/rfc822-headers")):
                continue  # a bounce's report: read by _bounced_ids
            elif kind.startswith("multipart/"):
                continue
            else:
                self._attach(part, kind, filename)
        return text or "", html

    def _text(self, part: Message, where: str) -> str:
        payload = _payload(part)
        return clean_text(_decode(payload, part.get_content_charset(), self.parsed.problems,
                                  where=where))

    def _attach(self, part: Message, kind: str, filename: str | None) -> None:
        content = _payload(part)
        name = clean_text(filename or "") or f"attachment-{len(self.parsed.attachments) + 1}"
        if len(content) > self.limit:
            self.parsed.dropped.append(
                f"{name} ({_size(len(content))}) is over the {_size(self.limit)} limit: dropped"
            )
            return
        content_id = (part.get("Content-ID") or "").strip().strip("<>")[:300] or None
        self.parsed.attachments.append(
            Attachment(filename=name[:255], content_type=kind[:255], content=content,
                       content_id=content_id)
        )


def _safe(read):  # type: ignore[no-untyped-def]
    try:
        return read()
    except Exception:
        return None


def _payload(part: Message) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""


def _size(count: int) -> str:
    return f"{count / 1_000_000:.1f} MB" if count >= 100_000 else f"{count / 1000:.0f} kB"


def _noise(headers: _Headers) -> str | None:
    auto = headers.get("Auto-Submitted")
    if auto and auto != "no":
        return f"an auto-reply (Auto-Submitted: {auto})"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponse"):
        if headers.get(name):
            return f"an auto-reply ({name})"
    precedence = headers.get("Precedence")
    if precedence in _NOISE_PRECEDENCE:
        return f"bulk mail (Precedence: {precedence})"
    return None


def _is_bounce(message: Message, sender: str | None) -> bool:
    if message.get_content_type() == "multipart/report":
        report = (_safe(lambda: message.get_param("report-type")) or "")
        if str(report).lower() == "delivery-status":
            return True
    return bool(sender and sender.startswith(_BOUNCE_SENDERS))


def _bounced_ids(message: Message) -> list[str]:
    """The Message-ID of the message a delivery report returns, from its attached copy or
    headers."""
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else inner
            if isinstance(inner, Message):
                found = re.findall(r"<[^<>\s]{1,290}>", str(inner.get("Message-ID", "")))
                if found:
                    return found[:1]
        elif kind == "text/rfc822-headers":
            headers = email.message_from_bytes(_payload(part), policy=policy.default)
            found = re.findall(r"<[^<>\s]{1,290}>", str(headers.get("Message-ID", "")))
            if found:
                return found[:1]
    return []


def fold(text: str) -> tuple[str, str]:
    """Split what the sender wrote from the quoted reply and signature below it."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for index, line in enumerate(lines):
        stripped = line.strip()
        previous_blank = index == 0 or not lines[index - 1].strip()
        if (
            line in ("-- ", "--")
            or _QUOTE_INTRO.match(stripped)
            or (previous_blank and _OUTLOOK_FROM.match(stripped) and index > 0)
            or (stripped.startswith(">") and all(
                not rest.strip() or rest.lstrip().startswith(">") for rest in lines[index:]
            ))
        ):
            new, quoted = "\n".join(lines[:index]).strip(), "\n".join(lines[index:]).strip()
            if new:
                return new, quoted
            break
    return text.strip(), ""


class _TextOfHtml(HTMLParser):
    BLOCKS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table",
              "blockquote", "pre", "hr"}
    SKIP = {"script", "style", "head", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCKS:
            self.out.append("\n")
            if tag == "li":
                self.out.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCKS:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.out.append(data)


def html_to_text(html: str) -> str:
    """The text of an HTML-only message, for the timeline and the search."""
    reader = _TextOfHtml()
    try:
        reader.feed(html)
        reader.close()
    except Exception:
        pass
    lines = [" ".join(line.split()) for line in "".join(reader.out).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


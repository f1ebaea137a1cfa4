"""Hostile mail through the real listener: each message is stored (raw, always) and then
landed, ignored or refused with a logged reason, never a crash and never accepted then
lost; the listener goes on serving after each."""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.blocklist.models import BlockKind, BlocklistEntry
from callcenter.channels.email import parsing
from callcenter.channels.email.models import Mail, MailDirection, MailStatus
from callcenter.flows import email as email_flow
from callcenter.tickets.models import Ticket, TicketEvent
from channels.mailbox import (
    SUPPORT,
    answered_by_email,
    customer_mail,
    events_of,
    mails,
    send,
)


def _raw(headers: str, body: bytes = b"Hello from the test.\r\n") -> bytes:
    return headers.replace("\n", "\r\n").encode() + b"\r\n" + body


@dataclass(frozen=True)
class Case:
    raw: bytes
    status: MailStatus
    reason: str | None = None  # a part of the reason logged
    body: str | None = None  # a part of the text on the timeline
    sender: str = "ada@example.com"


BASE = "From: Ada <ada@example.com>\nTo: support@shop.test\nSubject: Help\n"
CASES = {
    "malformed MIME (a boundary never closed, a part without headers)": Case(
        _raw(BASE + 'Message-ID: <m1@example.com>\nMIME-Version: 1.0\n'
             'Content-Type: multipart/mixed; boundary="zzz"\n',
             b"--zzz\r\nContent-Type: text/plain\r\n\r\nThe part that is there.\r\n--zzz\r\n"
             b"\r\n\x00\x01 junk without headers"),
        MailStatus.landed, body="The part that is there.",
    ),
    "a lying charset (says ASCII, is UTF-8)": Case(
        _raw(BASE + "Message-ID: <m2@example.com>\nContent-Type: text/plain; charset=us-ascii\n"
             "Content-Transfer-Encoding: 8bit\n", "Grüße aus Köln".encode()),
        MailStatus.landed, body="Grüße aus Köln",
    ),
    "a lying charset (says UTF-8, is Latin-1)": Case(
        _raw(BASE + "Message-ID: <m3@example.com>\nContent-Type: text/plain; charset=utf-8\n"
             "Content-Transfer-Encoding: 8bit\n", "Café crème".encode("latin-1")),
        MailStatus.landed, body="Café crème",
    ),
    "an unknown charset": Case(
        _raw(BASE + "Message-ID: <m4@example.com>\nContent-Type: text/plain; charset=x-klingon\n",
             b"plain words anyway"),
        MailStatus.landed, body="plain words anyway",
    ),
    "8-bit bytes in the headers": Case(
        "From: Jürgen Groß <juergen@example.de>\nTo: support@shop.test\nSubject: Rückfrage zur "
        "Bestellung\nMessage-ID: <m5@example.com>\n\nText.\n".replace("\n", "\r\n").encode(),
        MailStatus.landed, body="Text.", sender="juergen@example.de",
    ),
    "a missing From (the envelope sender stands in)": Case(
        _raw("To: support@shop.test\nSubject: no from\nMessage-ID: <m6@example.com>\n"),
        MailStatus.landed, body="Hello from the test.",
    ),
    "a missing Message-ID": Case(
        _raw(BASE), MailStatus.landed, body="Hello from the test.",
    ),
    "an auto-reply": Case(
        _raw(BASE + "Message-ID: <m7@example.com>\nAuto-Submitted: auto-replied\n",
             b"I am out of the office until Monday."),
        MailStatus.ignored, reason="auto-reply",
    ),
    "bulk mail": Case(
        _raw(BASE + "Message-ID: <m8@example.com>\nPrecedence: bulk\n"),
        MailStatus.ignored, reason="bulk",
    ),
    "mail from our own address (a loop)": Case(
        _raw(f"From: {SUPPORT}\nTo: {SUPPORT}\nSubject: Re: Help\nMessage-ID: <m9@shop.test>\n"),
        MailStatus.ignored, reason="our own address", sender=SUPPORT,
    ),
    "a bounce of a message we never sent": Case(
        _raw("From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\nTo: support@shop.test\n"
             "Subject: Undelivered Mail Returned to Sender\nMessage-ID: <m10@mx.example.com>\n"),
        MailStatus.ignored, reason="bounce", sender="",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_hostile_mail_is_kept_and_read_or_set_aside_and_the_listener_serves_on(
    name: str, listener: int, db_session: AsyncSession
):
    case = CASES[name]
    answer = await send(listener, case.raw, sender=case.sender)
    assert answer == {}, "accepted for every recipient"
    [stored] = await mails(db_session)
    assert stored.raw.rstrip(b"\r\n") == case.raw.rstrip(b"\r\n"), "kept as it came"
    assert stored.status == case.status, (stored.status, stored.reason)
    if case.reason:
        assert case.reason in (stored.reason or "")
    if case.body is not None:
        [event] = await events_of(db_session, stored.ticket_id or 0)
        assert case.body in event.body, event.body
    else:
        assert stored.ticket_id is None
        assert await db_session.scalar(select(Ticket.id)) is None, "no ticket opened"

    # And the listener goes on: the next message lands as usual.
    await send(listener, customer_mail(), sender="ada@example.com")
    after = (await mails(db_session))[-1]
    assert after.status == MailStatus.landed


async def test_8bit_headers_are_read_as_utf8(listener: int, db_session: AsyncSession):
    await send(listener, CASES["8-bit bytes in the headers"].raw, sender="juergen@example.de")
    [stored] = await mails(db_session)
    ticket = await db_session.get(Ticket, stored.ticket_id)
    assert ticket is not None and ticket.subject == "Rückfrage zur Bestellung"
    [event] = await events_of(db_session, stored.ticket_id or 0)
    assert event.data["from_name"] == "Jürgen Groß"


async def test_the_same_message_without_message_id_twice_lands_once(
    listener: int, db_session: AsyncSession
):
    raw = CASES["a missing Message-ID"].raw
    await send(listener, raw, sender="ada@example.com")
    await send(listener, raw, sender="ada@example.com")
    first, second = await mails(db_session)
    assert first.event_id == second.event_id is not None


async def test_an_attachment_over_the_limit_is_dropped_with_a_note_and_the_rest_kept(
    listener: int, db_session: AsyncSession
):
    message = customer_mail()
    message.add_attachment(b"%PDF small receipt", maintype="application", subtype="pdf",
                           filename="receipt.pdf")
    message.add_attachment(b"x" * 80_000, maintype="image", subtype="png", filename="huge.png")
    await send(listener, message, sender="ada@example.com")
    [stored] = await mails(db_session)
    [event] = await events_of(db_session, stored.ticket_id or 0)
    assert [a["filename"] for a in event.data["attachments"]] == ["receipt.pdf"]
    assert "huge.png (80 kB) is over the 50 kB limit: dropped" in event.data["dropped"]
    assert "order 1234" in event.body


async def test_a_blocked_sender_is_refused_counted_and_never_ticketed(
    listener: int, db_session: AsyncSession
):
    entry = BlocklistEntry(kind=BlockKind.domain, value="spam.test", reason="spam")
    db_session.add(entry)
    await db_session.commit()
    await send(listener, customer_mail(From="x@mail.spam.test"), sender="x@mail.spam.test")
    [stored] = await mails(db_session)
    assert stored.status == MailStatus.refused and "spam" in (stored.reason or "")
    assert stored.raw, "kept, refused: never lost"
    assert await db_session.scalar(select(Ticket.id)) is None
    await db_session.refresh(entry)
    assert entry.hit_count == 1


async def test_a_bounce_of_our_reply_is_noted_on_its_ticket(
    app: Any, client: Any, listener: int, relay: Any, db_session: AsyncSession
):
    incoming, reply = await answered_by_email(client, db_session, listener, body="Answer.")
    reply_id, reply_message_id = reply.id, reply.message_id
    bounce = (
        "From: MAILER-DAEMON@mx.example.com\r\nTo: support@shop.test\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {email.utils.make_msgid(domain='mx.example.com')}\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n'
        "--r\r\nContent-Type: text/plain\r\n\r\nThe mailbox ada@example.com is full.\r\n"
        "--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        "Final-Recipient: rfc822; ada@example.com\r\nAction: failed\r\nStatus: 5.2.2\r\n"
        f"--r\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {reply_message_id}\r\n"
        "Subject: Re: My order never arrived\r\n--r--\r\n"
    ).encode()
    await send(listener, bounce, sender="")
    bounced = (await mails(db_session))[-1]
    assert bounced.status == MailStatus.ignored and bounced.ticket_id == incoming.ticket_id
    events = await events_of(db_session, incoming.ticket_id or 0)
    assert "did not reach the customer" in events[-1].body
    assert "mailbox ada@example.com is full" in events[-1].body
    assert await db_session.scalar(
        select(Mail.id).where(Mail.direction == MailDirection.outgoing, Mail.id != reply_id)
    ) is None, "no reply to a bounce"


async def test_a_message_that_could_not_be_read_is_kept_and_read_again_later(
    app: Any, listener: int, db_session: AsyncSession, monkeypatch: pytest.MonkeyPatch,
):
    """A parser failure (a bug of ours, say) loses nothing: the message is stored, flagged
    with the reason, and reading it again once the bug is gone lands it."""
    real = parsing.parse

    def broken(raw: bytes, *, attachment_limit: int) -> parsing.Parsed:
        raise RuntimeError("a bug in the parser")

    monkeypatch.setattr(parsing, "parse", broken)
    answer = await send(listener, customer_mail(), sender="ada@example.com")
    assert answer == {}, "accepted: it is stored"
    [stored] = await mails(db_session)
    assert stored.status == MailStatus.unparsed and "a bug in the parser" in (stored.reason or "")

    monkeypatch.setattr(parsing, "parse", real)
    tel = app.extensions["callcenter"].telephony
    outcome = await email_flow.read(tel.sessionmaker, tel.mailroom, mail_id=stored.id)
    assert outcome.status == MailStatus.landed
    [again] = await mails(db_session)
    event = await db_session.scalar(select(TicketEvent).where(TicketEvent.id == again.event_id))
    assert event is not None and "order 1234" in event.body

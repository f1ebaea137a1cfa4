"""The store of messages in and out: keeping a message raw, what became of it, the ticket
a message answers, the attachments, and an outgoing message's attempts and backoff."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy import update as sa_update
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.channels.email.models import (
    Mail,
    MailAttachment,
    MailDirection,
    MailStatus,
)
from callcenter.channels.email.parsing import Attachment
from callcenter.db import utcnow
from callcenter.tickets.models import TicketGroup

# Waits after each failed attempt to hand a reply to the relay; then it has failed.
BACKOFF = (
    dt.timedelta(seconds=30), dt.timedelta(minutes=2), dt.timedelta(minutes=10),
    dt.timedelta(minutes=30), dt.timedelta(hours=2),
)
# An attempt holds its message this long; a worker that dies mid-attempt frees it then.
LEASE = dt.timedelta(seconds=60)
# How long a message may sit unread ("received") before the sweep reads it again: the
# listener reads it at once, so one that old lost its reader (the process died).
UNREAD_AFTER = dt.timedelta(minutes=2)


async def keep_raw(
    session: AsyncSession, *, envelope_from: str, envelope_to: list[str], raw: bytes,
    message_id: str,
) -> Mail:
    """Store a message as it came, before anything reads it."""
    mail = Mail(
        direction=MailDirection.incoming, status=MailStatus.received,
        envelope_from=envelope_from[:320], envelope_to=[to[:320] for to in envelope_to],
        raw=raw, size=len(raw), message_id=message_id[:300], attempts=[],
    )
    session.add(mail)
    await session.flush()
    return mail


async def get(session: AsyncSession, *, mail_id: int, lock: bool = False) -> Mail | None:
    return await session.get(Mail, mail_id, with_for_update=lock or None)


def settle(mail: Mail, status: MailStatus, *, reason: str | None = None) -> None:
    """What became of an incoming message."""
    mail.status = status
    mail.reason = reason[:500] if reason else None
    mail.processed_at = utcnow()


async def ticket_answered(
    session: AsyncSession, *, message_ids: list[str]
) -> int | None:
    """The ticket of the nearest of these messages (ours or the customer's) we have."""
    if not message_ids:
        return None
    rows = (await session.execute(
        select(Mail.message_id, Mail.ticket_id).where(
            Mail.message_id.in_(message_ids), Mail.ticket_id.is_not(None)
        )
    )).all()
    tickets = {message_id: ticket_id for message_id, ticket_id in rows}
    return next((tickets[i] for i in message_ids if i in tickets), None)


async def add_attachments(
    session: AsyncSession, *, mail: Mail, attachments: list[Attachment]
) -> list[MailAttachment]:
    kept = [
        MailAttachment(
            mail_id=mail.id, filename=item.filename, content_type=item.content_type,
            content_id=item.content_id, size=len(item.content), content=item.content,
        )
        for item in attachments
    ]
    session.add_all(kept)
    await session.flush()
    return kept


async def attachments_of(session: AsyncSession, *, mail_ids: list[int]) -> list[MailAttachment]:
    """The attachments' rows without their content (the ticket page lists them)."""
    if not mail_ids:
        return []
    rows = await session.scalars(
        select(MailAttachment).where(MailAttachment.mail_id.in_(mail_ids))
        .order_by(MailAttachment.id)
    )
    return list(rows)


async def get_attachment(session: AsyncSession, *, attachment_id: int) -> MailAttachment | None:
    return await session.get(MailAttachment, attachment_id)


async def for_events(session: AsyncSession, *, event_ids: list[int]) -> dict[int, Mail]:
    """The message behind each of these timeline events, by event id."""
    if not event_ids:
        return {}
    rows = await session.scalars(select(Mail).where(Mail.event_id.in_(event_ids)))
    return {mail.event_id: mail for mail in rows if mail.event_id is not None}


async def our_addresses(session: AsyncSession, *, support_address: str) -> dict[str, int | None]:
    """Every address we take mail at, with the group its mail goes to (None: no group)."""
    groups = await session.execute(
        select(TicketGroup.email, TicketGroup.id).where(TicketGroup.email.is_not(None))
    )
    addresses: dict[str, int | None] = {support_address.lower(): None}
    addresses.update({str(email).lower(): group_id for email, group_id in groups})
    return addresses


async def unread(session: AsyncSession, *, limit: int = 200) -> list[int]:
    """Incoming messages stored but never read (their reader died): for the sweep."""
    rows = await session.scalars(
        select(Mail.id).where(
            Mail.status == MailStatus.received, Mail.created_at < utcnow() - UNREAD_AFTER
        ).order_by(Mail.id).limit(limit)
    )
    return list(rows)


# --- out --------------------------------------------------------------------------------


async def queue_reply(
    session: AsyncSession, *, raw: bytes, message_id: str, sender: str, recipients: list[str],
    ticket_id: int, event_id: int,
) -> Mail:
    """An agent's reply, built, waiting for the worker to hand it to the relay."""
    mail = Mail(
        direction=MailDirection.outgoing, status=MailStatus.queued, envelope_from=sender,
        envelope_to=recipients, raw=raw, size=len(raw), message_id=message_id,
        ticket_id=ticket_id, event_id=event_id, attempts=[], next_attempt_at=utcnow(),
    )
    session.add(mail)
    await session.flush()
    return mail


async def claim(session: AsyncSession, *, mail_id: int) -> Mail | None:
    """Take an outgoing message for one attempt, unless another worker holds it or it is
    done: one conditional UPDATE, so two workers never send the same message."""
    now = utcnow()
    taken = await session.execute(
        sa_update(Mail)
        .where(
            Mail.id == mail_id, Mail.status == MailStatus.queued,
            Mail.next_attempt_at <= now,
        )
        .values(next_attempt_at=now + LEASE)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return await session.get(Mail, mail_id, populate_existing=True)


def record_attempt(mail: Mail, *, error: str | None, permanent: bool = False) -> None:
    """One attempt's outcome: sent, or failed (tried again after the backoff, unless the
    relay refused it for good or the attempts ran out)."""
    now = utcnow()
    attempt: dict[str, Any] = {"at": now.isoformat(), "error": error}
    mail.attempts = [*mail.attempts, attempt]
    if error is None:
        mail.status, mail.reason, mail.next_attempt_at = MailStatus.sent, None, None
        mail.processed_at = now
        return
    failures = sum(1 for item in mail.attempts if item.get("error"))
    mail.reason = error[:500]
    if permanent or failures > len(BACKOFF):
        mail.status, mail.next_attempt_at = MailStatus.failed, None
        mail.processed_at = now
    else:
        mail.next_attempt_at = now + BACKOFF[failures - 1]


async def due(session: AsyncSession, *, limit: int = 200) -> list[int]:
    """Outgoing messages whose next attempt is due (a lost job, a lease run out)."""
    rows = await session.scalars(
        select(Mail.id).where(
            Mail.status == MailStatus.queued, Mail.next_attempt_at <= utcnow()
        ).order_by(Mail.next_attempt_at).limit(limit)
    )
    return list(rows)

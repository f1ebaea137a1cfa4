"""Email from the listener to the timeline, and agents' replies out through the relay.

In: `receive` keeps the raw message in its own transaction before the listener answers
250, then `read` parses it and lands it through `flows.contacts` in another; if reading
fails, the message stays raw, flagged `unparsed` with the reason, and `read` can be run
on it again. Noise never opens a ticket: auto-replies and bulk mail, mail from our own
addresses, and bounces (which go on the ticket whose reply bounced, if we find it).
Threading: In-Reply-To and References against every message we have, in or out, then the
`[#id]` token our replies' subjects carry.

Out: `reply` writes the agent's reply on the timeline and queues the built message in the
same transaction; the worker's `email.send` job hands it to the relay after the commit,
with retries and backoff, and the event shows whether it went.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter import jobs, unit_of_work
from callcenter.channels.email import parsing, sending
from callcenter.channels.email import service as mail
from callcenter.channels.email.models import Mail, MailStatus
from callcenter.channels.email.parsing import Parsed
from callcenter.channels.email.sending import Mailroom
from callcenter.customers import service as customers
from callcenter.customers.models import IdentityKind
from callcenter.db import transaction, utcnow
from callcenter.flows import Telephony, contacts
from callcenter.tickets import service as tickets
from callcenter.tickets.models import Channel, Ticket, TicketEvent, TicketEventKind, TicketStatus

log = logging.getLogger("callcenter.flows.email")

SEND = "email.send"


@dataclass(frozen=True)
class Outcome:
    status: MailStatus
    reason: str | None = None
    ticket_id: int | None = None


async def receive(
    sessionmaker: async_sessionmaker[AsyncSession], *, envelope_from: str,
    envelope_to: list[str], raw: bytes,
) -> int:
    """Keep the message raw (committed when this returns: the listener may say 250)."""
    async with transaction(sessionmaker) as session:
        kept = await mail.keep_raw(
            session, envelope_from=envelope_from, envelope_to=envelope_to, raw=raw,
            message_id=_own_id(raw),
        )
        return kept.id


def _own_id(raw: bytes) -> str:
    """The Message-ID as the header gives it, cheaply (the full read comes after)."""
    head = raw[:20_000].split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    for line in head.splitlines():
        if line[:11].lower() == b"message-id:":
            value = parsing.clean_text(line[11:].decode("utf-8", "surrogateescape")).strip()
            if value.startswith("<") and value.endswith(">"):
                return value
    return parsing.synthetic_id(raw)


async def read(
    sessionmaker: async_sessionmaker[AsyncSession], mailroom: Mailroom, *, mail_id: int
) -> Outcome:
    """Parse a stored message and put it where it belongs; never raises for its content."""
    try:
        async with transaction(sessionmaker) as session:
            stored = await mail.get(session, mail_id=mail_id, lock=True)
            if stored is None:
                return Outcome(MailStatus.failed, "no such message")
            if stored.status not in (MailStatus.received, MailStatus.unparsed):
                return Outcome(stored.status, stored.reason, stored.ticket_id)
            outcome = await _read(session, mailroom, stored)
    except Exception as error:
        log.exception("channels.email.unparsed", extra={"mail_id": mail_id})
        reason = f"could not be read: {type(error).__name__}: {error}"
        async with transaction(sessionmaker) as session:
            stored = await mail.get(session, mail_id=mail_id, lock=True)
            if stored is not None:
                mail.settle(stored, MailStatus.unparsed, reason=reason)
        return Outcome(MailStatus.unparsed, reason)
    log.info("channels.email.read", extra={
        "mail_id": mail_id, "status": str(outcome.status), "reason": outcome.reason,
        "ticket_id": outcome.ticket_id,
    })
    return outcome


async def _read(session: AsyncSession, mailroom: Mailroom, stored: Mail) -> Outcome:
    parsed = parsing.parse(stored.raw, attachment_limit=mailroom.attachment_limit)
    stored.message_id = parsed.message_id[:300]
    ours = await mail.our_addresses(session, support_address=mailroom.support_address)
    sender = parsed.sender or _address(stored.envelope_from)
    if parsed.bounce or not stored.envelope_from.strip("<> "):
        return await _bounce(session, stored, parsed)
    if sender is None:
        return _settle(stored, MailStatus.unparsed, "no sender address (no From, no envelope)")
    if sender in ours:
        return _settle(stored, MailStatus.ignored, f"sent from our own address {sender}")
    if parsed.noise:
        return _settle(stored, MailStatus.ignored, parsed.noise)
    ticket_id = await _thread(session, parsed, sender=sender)
    group_id = next(
        (ours[to] for to in [*stored.envelope_to, *parsed.to, *parsed.cc]
         if to.lower() in ours and ours[to.lower()] is not None),
        None,
    )
    landed = await contacts.land(session, contacts.Contact(
        channel=Channel.email, kind=TicketEventKind.email, identity=IdentityKind.email,
        sender=sender, name=parsed.sender_name, external_id=parsed.message_id,
        subject=parsed.subject or "(no subject)", body=parsed.text,
        data=_event_data(parsed, stored, sender=sender), ticket_id=ticket_id,
        group_id=group_id,
    ))
    if landed.blocked is not None:
        return _settle(stored, MailStatus.refused, f"blocked sender: {landed.blocked.reason}"
                       if landed.blocked.reason else "blocked sender")
    assert landed.event is not None
    await _attach(session, stored, landed.event, parsed)
    return _settle(stored, MailStatus.landed, None, ticket_id=landed.event.ticket_id)


def _settle(
    stored: Mail, status: MailStatus, reason: str | None, *, ticket_id: int | None = None
) -> Outcome:
    mail.settle(stored, status, reason=reason)
    stored.ticket_id = ticket_id if ticket_id is not None else stored.ticket_id
    return Outcome(status, reason, stored.ticket_id)


def _address(envelope: str) -> str | None:
    value = envelope.strip().strip("<>").strip().lower()
    return value if "@" in value else None


async def _thread(session: AsyncSession, parsed: Parsed, *, sender: str) -> int | None:
    """The open ticket this message answers: by the messages it names, then by the token
    in its subject (only from the ticket's requester). A reply to a closed ticket opens a
    new one."""
    ticket_id = await mail.ticket_answered(session, message_ids=parsed.thread_ids)
    if ticket_id is None and (token := parsed.ticket_token()) is not None:
        ticket = await tickets.get_ticket(session, ticket_id=token)
        owner = await customers.find_by_identity(session, kind=IdentityKind.email, value=sender)
        if ticket is not None and owner is not None and ticket.requester_id == owner.id:
            ticket_id = ticket.id
    if ticket_id is None:
        return None
    ticket = await tickets.get_ticket(session, ticket_id=ticket_id)
    return ticket.id if ticket is not None and ticket.status != TicketStatus.closed else None


def _event_data(parsed: Parsed, stored: Mail, *, sender: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "mail_id": stored.id, "from": sender, "from_name": parsed.sender_name,
        "to": parsed.to, "cc": parsed.cc, "subject": parsed.subject,
    }
    if parsed.quoted:
        data["quoted"] = parsed.quoted[:20_000]
    if parsed.dropped:
        data["dropped"] = parsed.dropped
    if parsed.problems:
        data["problems"] = parsed.problems[:20]
    return data


async def _attach(
    session: AsyncSession, stored: Mail, event: TicketEvent, parsed: Parsed
) -> None:
    stored.event_id = event.id
    stored.html = parsed.html
    if parsed.attachments:
        kept = await mail.add_attachments(session, mail=stored, attachments=parsed.attachments)
        event.data = {**event.data, "attachments": [
            {"id": item.id, "filename": item.filename, "size": item.size,
             "content_type": item.content_type} for item in kept
        ]}


async def _bounce(session: AsyncSession, stored: Mail, parsed: Parsed) -> Outcome:
    """A delivery report: noted on the ticket whose reply bounced (that reply's event
    says it did not arrive), never a ticket of its own."""
    ticket_id = await mail.ticket_answered(session, message_ids=parsed.bounced)
    if ticket_id is None:
        return _settle(stored, MailStatus.ignored, "a bounce for no message of ours")
    ticket = await tickets.get_ticket(session, ticket_id=ticket_id, lock=True)
    if ticket is None:
        return _settle(stored, MailStatus.ignored, "a bounce for a ticket since deleted")
    event = tickets.add_note(
        session, ticket, author_id=None,
        body=f"A reply did not reach the customer: {parsed.text[:500] or parsed.subject}",
        data={"mail_id": stored.id, "bounce": True},
    )
    await session.flush()
    stored.event_id = event.id
    return _settle(stored, MailStatus.ignored, "a bounce, noted on its ticket",
                   ticket_id=ticket_id)


# --- out --------------------------------------------------------------------------------


async def reply(
    session: AsyncSession, mailroom: Mailroom, ticket: Ticket, *, author_id: int,
    author_name: str, body: str,
) -> TicketEvent:
    """The agent's reply by email to the ticket's requester, threaded under the last
    message of the ticket; sent by the worker once this commits."""
    to = await _requester_address(session, ticket)
    if to is None:
        raise ValueError("The customer has no email address to reply to.")
    sender = await _group_address(session, ticket, mailroom)
    thread = await _thread_headers(session, ticket)
    raw, message_id = sending.build(
        sending.Outgoing(
            sender=sender, sender_name=author_name, to=to,
            subject=sending.reply_subject(ticket.subject, ticket.id), text=body,
            in_reply_to=thread[-1] if thread else None, references=thread,
        ),
        domain=mailroom.domain,
    )
    event = await tickets.add_reply(
        session, ticket, author_id=author_id, kind=TicketEventKind.email, body=body,
        external_id=message_id,
        data={"to": [to], "from": sender, "delivery": str(MailStatus.queued), "outgoing": True},
    )
    queued = await mail.queue_reply(
        session, raw=raw, message_id=message_id, sender=sender, recipients=[to],
        ticket_id=ticket.id, event_id=event.id,
    )
    event.data = {**event.data, "mail_id": queued.id}
    queue = session.info.get(unit_of_work.JOBS)
    if queue is not None:
        queue.after_commit(session, SEND, mail_id=queued.id)
    return event


async def _requester_address(session: AsyncSession, ticket: Ticket) -> str | None:
    identities = await customers.identities(session, customer_id=ticket.requester_id)
    addresses = [i.value for i in identities if i.kind == IdentityKind.email]
    return addresses[0] if addresses else None


async def _group_address(session: AsyncSession, ticket: Ticket, mailroom: Mailroom) -> str:
    if ticket.group_id is not None:
        ours = await mail.our_addresses(session, support_address=mailroom.support_address)
        for address, group_id in ours.items():
            if group_id == ticket.group_id:
                return address
    return mailroom.support_address


async def _thread_headers(session: AsyncSession, ticket: Ticket) -> list[str]:
    """The Message-IDs of the ticket's mail, oldest first (References of a reply)."""
    events = await tickets.timeline(session, ticket_id=ticket.id)
    return [e.external_id for e in events if e.kind == TicketEventKind.email and e.external_id]


async def send_one(tel: Telephony, *, mail_id: int) -> MailStatus | None:
    """One attempt at handing a queued reply to the relay, if it is due and free; the
    reply's event shows the result. Answers the status it was left in."""
    mailroom = tel.mailroom
    assert mailroom is not None
    async with transaction(tel.sessionmaker) as session:
        claimed = await mail.claim(session, mail_id=mail_id)
        if claimed is None:
            return None
        sender, recipients, raw = claimed.envelope_from, list(claimed.envelope_to), claimed.raw
    error, permanent = None, False
    try:
        await sending.send(mailroom, sender=sender, recipients=recipients, raw=raw)
    except sending.SendError as failure:
        error, permanent = str(failure), failure.permanent
    async with transaction(tel.sessionmaker) as session:
        claimed = await mail.get(session, mail_id=mail_id, lock=True)
        if claimed is None:
            return None
        mail.record_attempt(claimed, error=error, permanent=permanent)
        status = claimed.status
        if claimed.event_id is not None:
            await tickets.set_event_data(
                session, event_id=claimed.event_id,
                changes={"delivery": str(status), "delivery_error": claimed.reason},
            )
        wait = claimed.next_attempt_at
    log.info("channels.email.sent" if error is None else "channels.email.send_failed",
             extra={"mail_id": mail_id, "status": str(status), "error": error})
    if status == MailStatus.queued and wait is not None and tel.jobs is not None:
        await tel.jobs.enqueue(SEND, delay=max(0.0, (wait - utcnow()).total_seconds()),
                               mail_id=mail_id)
    return status


@jobs.job(SEND)
async def send_job(tel: Telephony, *, mail_id: int) -> MailStatus | None:
    return await send_one(tel, mail_id=mail_id)


async def sweep(tel: Telephony) -> int:
    """The worker's minute round: replies due for an attempt, and incoming messages whose
    reader died before reading them."""
    async with transaction(tel.sessionmaker) as session:
        due = await mail.due(session)
        unread = await mail.unread(session)
    for mail_id in due:
        await send_one(tel, mail_id=mail_id)
    if tel.mailroom is not None:
        for mail_id in unread:
            await read(tel.sessionmaker, tel.mailroom, mail_id=mail_id)
    return len(due) + len(unread)

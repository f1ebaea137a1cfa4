"""Helpers of the email tests: the relay's handler, sending over SMTP, reading the store."""

from __future__ import annotations

import asyncio
import email.utils
import smtplib
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from builders import make_token, make_user
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.accounts.models import Role
from callcenter.channels.email.models import Mail
from callcenter.tickets.models import TicketEvent

SUPPORT = "support@shop.test"


@dataclass
class Relay:
    """The outgoing relay: a real SMTP server that keeps what it is given."""

    port: int = 0
    got: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    refuse: str | None = None  # answer DATA with this instead of 250

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            return self.refuse
        self.got.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


def _send(port: int, message: EmailMessage | bytes, *, sender: str, to: str = SUPPORT) -> Any:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        raw = message if isinstance(message, bytes) else message.as_bytes(
            policy=message.policy.clone(linesep="\r\n")  # on the wire, as clients send it
        )
        return smtp.sendmail(sender, [to], raw)


async def send(port: int, message: EmailMessage | bytes, *, sender: str, to: str = SUPPORT) -> Any:
    return await asyncio.to_thread(_send, port, message, sender=sender, to=to)


def customer_mail(**headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = headers.pop("From", "Ada Lovelace <ada@example.com>")
    message["To"] = SUPPORT
    message["Subject"] = headers.pop("Subject", "My order never arrived")
    message["Message-ID"] = headers.pop("Message_ID", email.utils.make_msgid(domain="example.com"))
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("Hello, my order 1234 never arrived. Can you help?\n\n-- \nAda")
    return message


async def mails(session: AsyncSession) -> list[Mail]:
    await session.rollback()
    return list(await session.scalars(
        select(Mail).order_by(Mail.id).execution_options(populate_existing=True)
    ))


async def events_of(session: AsyncSession, ticket_id: int) -> list[TicketEvent]:
    await session.rollback()
    return list(await session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
        .execution_options(populate_existing=True)
    ))


async def agent_headers(session: AsyncSession) -> dict[str, str]:
    user = await make_user(session, role=Role.agent, name="Grace Hopper")
    token = await make_token(session, user=user)
    await session.commit()
    return {"Authorization": f"Bearer {token}"}





async def answered_by_email(
    client: Any, session: AsyncSession, listener: int, *, body: str
) -> tuple[Mail, Mail]:
    """A customer's mail and an agent's reply to it by email, queued: (in, out)."""
    await send(listener, customer_mail(), sender="ada@example.com")
    [incoming] = await mails(session)
    answer = await client.post(
        f"/api/tickets/{incoming.ticket_id}/replies", headers=await agent_headers(session),
        json={"body": body},
    )
    assert answer.status_code == 201, await answer.get_data(as_text=True)
    incoming, outgoing = await mails(session)
    return incoming, outgoing

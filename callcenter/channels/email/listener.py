"""The SMTP listener (aiosmtpd, on the app's event loop): mail in for our addresses.

It takes mail only for the support address and the groups' own addresses (550 for any
other recipient), keeps each message raw in the database before it answers 250, and
answers 451 when it cannot (the sender tries again later): nothing it accepted is ever
lost. Then it reads the message onto the timeline (`flows.email.read`), whose failure
leaves the message stored and flagged, never refused. It is the SMTP edge, as views are
the HTTP one: it calls the flow and nothing below it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.channels.email import service as mail
from callcenter.channels.email.sending import Mailroom
from callcenter.db import transaction
from callcenter.flows import email as email_flow

log = logging.getLogger("callcenter.channels.email")


class Handler:
    """aiosmtpd's handler: RCPT checks the address, DATA stores then reads."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], mailroom: Mailroom
    ) -> None:
        self.sessionmaker = sessionmaker
        self.mailroom = mailroom
        self.received = 0

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        rcpt_options: list[str],
    ) -> str:
        wanted = address.strip().lower()
        try:
            async with transaction(self.sessionmaker) as db:
                ours = await mail.our_addresses(db, support_address=self.mailroom.support_address)
        except Exception:
            log.exception("channels.email.rcpt_unchecked")
            return "451 4.3.0 Temporary failure, please try again later"
        if wanted not in ours:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(wanted)
        return "250 OK"

    async def handle_DATA(
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            mail_id = await email_flow.receive(
                self.sessionmaker, envelope_from=str(envelope.mail_from or ""),
                envelope_to=list(envelope.rcpt_tos), raw=raw,
            )
        except Exception:
            log.exception("channels.email.not_stored")
            return "451 4.3.0 The message could not be stored, please try again later"
        self.received += 1
        await email_flow.read(self.sessionmaker, self.mailroom, mail_id=mail_id)
        return "250 2.0.0 Message accepted"


async def start(
    sessionmaker: async_sessionmaker[AsyncSession], mailroom: Mailroom, *, host: str,
    port: int, message_limit: int,
) -> asyncio.Server:
    """Listen on host:port (port 0: any free one) on the running loop. Several app
    processes share the port (SO_REUSEPORT)."""
    handler = Handler(sessionmaker, mailroom)

    def protocol() -> Any:
        return SMTP(
            handler, data_size_limit=message_limit, enable_SMTPUTF8=True,
            decode_data=False, hostname=mailroom.domain, ident="callcenter",
        )

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        protocol, host=host, port=port, reuse_port=hasattr(socket, "SO_REUSEPORT"),
    )
    bound = server.sockets[0].getsockname()
    log.info("channels.email.listening", extra={"host": bound[0], "port": bound[1]})
    return server

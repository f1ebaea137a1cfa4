"""The one seam every written channel (email; chat and SMS to come) lands a contact
through: the customer of the sender's identity (made on first contact), the blocklist,
then the tickets service, which threads the contact onto the customer's open ticket or
opens one, runs the triggers and records the event. A message the sender delivered twice
(the same channel id) lands once."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.blocklist import service as blocklist
from callcenter.blocklist.models import BlocklistEntry
from callcenter.customers import service as customers
from callcenter.customers.models import IdentityKind
from callcenter.tickets import service as tickets
from callcenter.tickets.models import Channel, TicketEvent, TicketEventKind

log = logging.getLogger("callcenter.flows.contacts")


@dataclass(frozen=True)
class Contact:
    """A message from a customer, as its channel read it."""

    channel: Channel
    kind: TicketEventKind
    identity: IdentityKind
    sender: str  # normalised: an E.164 number, a lower-case address, a chat visitor id
    external_id: str  # the channel's own id of the message
    subject: str
    body: str
    name: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    # The ticket the channel threaded it onto (a reply to our reply), if it did.
    ticket_id: int | None = None
    group_id: int | None = None  # the group a new ticket goes to


@dataclass(frozen=True)
class Landed:
    event: TicketEvent | None  # None when the sender is blocked
    blocked: BlocklistEntry | None = None


async def blocked(session: AsyncSession, contact: Contact) -> BlocklistEntry | None:
    """The live blocklist entry that refuses this sender, if one does."""
    if contact.identity == IdentityKind.email:
        return await blocklist.match_address(session, address=contact.sender)
    if contact.identity == IdentityKind.phone:
        return await blocklist.match(session, number=contact.sender)
    return None


async def land(session: AsyncSession, contact: Contact) -> Landed:
    """Put the contact on its customer's history, unless the sender is blocked (then the
    entry's hit is counted and nothing is ticketed)."""
    entry = await blocked(session, contact)
    if entry is not None:
        await blocklist.record_hit(session, entry=entry)
        log.info(
            "channels.contact.blocked",
            extra={"channel": str(contact.channel), "entry_id": entry.id},
        )
        return Landed(event=None, blocked=entry)
    customer = await customers.find_or_create(
        session, kind=contact.identity, value=contact.sender, name=contact.name
    )
    event = await tickets.add_contact(
        session, customer_id=customer.id, channel=contact.channel, kind=contact.kind,
        subject=contact.subject, body=contact.body, data=contact.data,
        ticket_id=contact.ticket_id, external_id=contact.external_id,
        group_id=contact.group_id,
    )
    return Landed(event=event)

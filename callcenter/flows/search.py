"""The search box: whatever an agent types, the tickets it could mean.

A ticket id (`123`, `#123`), a phone number in any format, an email address, a customer's
name or words from a subject or timeline: customers are the customers domain's and
tickets the tickets domain's, so reading the one and narrowing the other is a flow.
"""

from __future__ import annotations

import re
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.customers import service as customers
from callcenter.tickets import lists
from callcenter.tickets.models import Ticket

_TICKET_ID = re.compile(r"^#?(\d{1,9})$")


async def tickets_for(
    session: AsyncSession, *, text: str, filters: lists.Filters, user_id: int, region: str,
    offset: int = 0, limit: int = 50,
) -> tuple[list[Ticket], int]:
    """A page of the tickets `text` finds within `filters`, most urgent first, and the total."""
    text = text.strip()
    if not text:
        return await lists.find(session, filters, user_id=user_id, offset=offset, limit=limit)
    ticket_id = int(found[1]) if (found := _TICKET_ID.match(text)) else None
    owners: list[int] = []
    customer = await customers.lookup(session, text=text, region=region)
    if customer is not None:
        owners.append(customer.id)
    named, _ = await customers.list_customers(session, q=text, region=region, limit=50)
    owners += [c.id for c in named if c.id not in owners]
    identity = customers.guess_kind(text) is not None
    search = replace(
        filters, ticket_id=ticket_id, customer_ids=tuple(owners),
        # A number or address matches its owner, not every timeline that quotes it.
        text="" if identity and owners else text,
    )
    return await lists.find(session, search, user_id=user_id, offset=offset, limit=limit)

"""Merging two customers: one person, one history, whatever they had on either side.

Identities are the customers domain's, tickets the tickets domain's and calls telephony's,
so the merge is a flow: all of it in one transaction, logged once, shown on both.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from callcenter import events
from callcenter.audit import service as audit
from callcenter.customers import service as customers
from callcenter.customers.models import Customer
from callcenter.telephony import service as calls
from callcenter.tickets import service as tickets


class MergeError(ValueError):
    """Why these two customers cannot be merged."""


async def merge_customers(
    session: AsyncSession, *, source_id: int, target_id: int, actor_id: int
) -> Customer:
    """Merge `source_id` into `target_id`, answering with the survivor."""
    if source_id == target_id:
        raise MergeError("a customer cannot be merged into themselves")
    for customer_id in sorted((source_id, target_id)):  # one lock order: no deadlock
        await customers.lock(session, customer_id=customer_id)
    source = await customers.get(session, customer_id=source_id)
    target = await customers.get(session, customer_id=target_id)
    if source is None or target is None:
        raise MergeError("there is no such customer")
    for customer in (source, target):
        if customer.merged_into_id is not None:
            raise MergeError(
                f"customer #{customer.id} was already merged into #{customer.merged_into_id}"
            )
    moved = await tickets.reassign_requester(session, from_id=source.id, to_id=target.id)
    await calls.reassign_customer(session, from_id=source.id, to_id=target.id)
    await customers.merge(session, source=source, target=target, actor_id=actor_id)
    await audit.record(
        session, action="customer.merged", actor_id=actor_id, target=f"customer:{target.id}",
        details={"merged": source.id, "into": target.id, "tickets_moved": moved},
    )
    events.record(session, "customers.customer.merged", customer_id=target.id, merged=source.id)
    return target

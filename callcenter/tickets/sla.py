"""Service-level targets: when a ticket's first reply, next reply and resolution fall due.

Each priority has a policy (`SlaPolicy`): minutes for each target, counted in the
business hours the policy names. The clocks:

- first reply: from the ticket's creation until an agent first answers the customer (an
  answered call, or a reply on the customer's channel; internal notes do not count);
- next reply: from a customer's contact that finds us not waiting on them until our next
  answer;
- resolution: from creation until the ticket is solved (a reopened ticket's clock goes on
  from creation, so reopening never buys time).

A priority change re-counts every unmet target from its own start. `sla_due_at`, the
earliest unmet target, is what the "SLA breaching soon" view sorts by. A target is
breached when it was met late, or is unmet and its time has passed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.business_hours import BusinessHours
from callcenter.tickets.models import SlaPolicy, Ticket, TicketPriority

TARGETS = ("first_reply", "next_reply", "resolution")


@dataclass(frozen=True)
class Target:
    """One target's state on one ticket, for the ticket page and the API."""

    name: str
    due_at: dt.datetime
    met_at: dt.datetime | None
    breached: bool


async def policy_for(session: AsyncSession, *, priority: TicketPriority) -> SlaPolicy | None:
    return await session.get(SlaPolicy, priority)


def hours_of(policy: SlaPolicy) -> BusinessHours:
    return BusinessHours.parse(policy.hours, zone=ZoneInfo(policy.zone))


def _due(policy: SlaPolicy | None, minutes: int | None, start: dt.datetime) -> dt.datetime | None:
    if policy is None or minutes is None:
        return None
    return hours_of(policy).add(start, minutes)


def recount(ticket: Ticket, policy: SlaPolicy | None) -> None:
    """Set every due time from its clock's start under `policy` (the ticket's priority's),
    and the earliest unmet one. Called on creation, a priority change and each contact."""
    ticket.first_reply_due_at = _due(
        policy, policy.first_reply_minutes if policy else None, ticket.created_at
    )
    ticket.resolution_due_at = _due(
        policy, policy.resolution_minutes if policy else None, ticket.created_at
    )
    # The first reply's clock covers the first wait: the next reply's starts after it.
    waiting = ticket.awaiting_since if ticket.first_replied_at is not None else None
    ticket.next_reply_due_at = _due(
        policy, policy.next_reply_minutes if policy else None, waiting
    ) if waiting is not None else None
    _set_earliest(ticket)


def customer_waiting(ticket: Ticket, policy: SlaPolicy | None, *, at: dt.datetime) -> None:
    """The customer got in touch: if we were not already keeping them waiting, the next
    reply's clock starts now."""
    if ticket.awaiting_since is None:
        ticket.awaiting_since = at
    recount(ticket, policy)


def replied(ticket: Ticket, policy: SlaPolicy | None, *, at: dt.datetime) -> None:
    """An agent answered the customer: first reply met (if not yet), next reply met."""
    if ticket.first_replied_at is None:
        ticket.first_replied_at = at
    ticket.awaiting_since = None
    recount(ticket, policy)


def _set_earliest(ticket: Ticket) -> None:
    unmet = [
        due for due, met in (
            (ticket.first_reply_due_at, ticket.first_replied_at),
            (ticket.next_reply_due_at, None),
            (ticket.resolution_due_at, ticket.solved_at),
        ) if due is not None and met is None
    ]
    ticket.sla_due_at = min(unmet) if unmet and ticket.status.is_open else None


def settle(ticket: Ticket) -> None:
    """After a status change: a solved ticket owes nothing; a reopened one owes again."""
    _set_earliest(ticket)


def targets(ticket: Ticket, *, now: dt.datetime) -> list[Target]:
    """The ticket's targets with their due times, when they were met, and breaches."""
    found = []
    for name, due, met in (
        ("first_reply", ticket.first_reply_due_at, ticket.first_replied_at),
        ("next_reply", ticket.next_reply_due_at, None),
        ("resolution", ticket.resolution_due_at, ticket.solved_at),
    ):
        if due is None:
            continue
        found.append(Target(name=name, due_at=due, met_at=met, breached=(met or now) > due))
    return found


def breached(ticket: Ticket, *, now: dt.datetime) -> bool:
    return any(target.breached for target in targets(ticket, now=now))

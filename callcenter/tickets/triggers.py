"""Triggers: rules run when a ticket is created or updated, in position order.

Conditions (JSON): `{"all": [...], "any": [...]}`, both optional; every condition in
`all` and at least one in `any` (when given) must hold. A condition:

    {"field": "channel",  "op": "is" | "is_not", "value": "phone"}
    {"field": "priority", "op": "is" | "is_not" | "at_least", "value": "high"}
    {"field": "status",   "op": "is" | "is_not", "value": "new"}
    {"field": "text",     "op": "contains" | "not_contains", "value": "site down"}
    {"field": "tags",     "op": "includes" | "excludes", "value": "vip"}
    {"field": "customer", "op": "is" | "is_not", "value": 42}
    {"field": "business_hours", "op": "is", "value": true}
    {"field": "update",   "op": "is", "value": "created" | "updated"}

`text` is the subject and the new contact's or note's text, matched without regard to
case or runs of spaces. Actions are those of `actions.py`, and one more, for triggers:

    {"notify": "webhook", "webhook": "CRM", "message": "A refund was asked for"}

which posts `trigger.notified` (the ticket, the trigger's name and the message) to the
active webhook of that name, whatever events it subscribed to, once the change commits.
Triggers run once per change, each seeing what the ones before it did; their own changes
do not run triggers again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter import events
from callcenter.tickets import actions, sla
from callcenter.tickets.models import Channel, Ticket, TicketPriority, TicketStatus, Trigger

_OPS: dict[str, tuple[str, ...]] = {
    "channel": ("is", "is_not"),
    "priority": ("is", "is_not", "at_least"),
    "status": ("is", "is_not"),
    "text": ("contains", "not_contains"),
    "tags": ("includes", "excludes"),
    "customer": ("is", "is_not"),
    "business_hours": ("is",),
    "update": ("is",),
}


MAX_MESSAGE = 2000
# Published for a trigger's notify action; the webhooks outbox posts it.
NOTIFY_EVENT = "tickets.trigger.notify"


class TriggerError(ValueError):
    """A trigger that cannot work, and where (`conditions.all[2]`, `actions[1]`)."""


@dataclass(frozen=True)
class Change:
    """What happened to the ticket, as triggers see it."""

    created: bool
    text: str
    at: dt.datetime


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def check_conditions(conditions: Mapping[str, Any]) -> None:
    """Refuse conditions that could never be evaluated, naming the one at fault."""
    unknown = set(conditions) - {"all", "any"}
    if unknown:
        raise TriggerError(f"conditions: only 'all' and 'any' are allowed, not {sorted(unknown)}")
    for group in ("all", "any"):
        items = conditions.get(group, [])
        if not isinstance(items, list):
            raise TriggerError(f"conditions.{group}: must be a list")
        for index, condition in enumerate(items):
            where = f"conditions.{group}[{index}]"
            field, op = condition.get("field"), condition.get("op")
            if field not in _OPS:
                raise TriggerError(f"{where}: unknown field {field!r} ({', '.join(_OPS)})")
            if op not in _OPS[field]:
                raise TriggerError(f"{where}: {field} takes {', '.join(_OPS[field])}, not {op!r}")
            _check_value(field, condition.get("value"), where)


def _check_value(field: str, value: Any, where: str) -> None:
    allowed = {
        "channel": [c.value for c in Channel], "priority": [p.value for p in TicketPriority],
        "status": [s.value for s in TicketStatus], "update": ["created", "updated"],
    }
    if field in allowed and value not in allowed[field]:
        raise TriggerError(f"{where}: {value!r} is not one of {', '.join(allowed[field])}")
    if field in ("text", "tags") and not (isinstance(value, str) and value.strip()):
        raise TriggerError(f"{where}: {field} needs a word or phrase")
    if field == "customer" and not (isinstance(value, int) and not isinstance(value, bool)):
        raise TriggerError(f"{where}: customer is a customer id")
    if field == "business_hours" and not isinstance(value, bool):
        raise TriggerError(f"{where}: business_hours is true or false")


def _holds(condition: Mapping[str, Any], ticket: Ticket, change: Change, open_now: bool) -> bool:
    field, op, value = condition["field"], condition["op"], condition.get("value")
    if field == "text":
        found = _normal(str(value)) in _normal(f"{ticket.subject} {change.text}")
        return found if op == "contains" else not found
    if field == "tags":
        found = actions.clean_tags([str(value)])[0] in (ticket.tags or [])
        return found if op == "includes" else not found
    if field == "business_hours":
        return open_now == value
    if field == "update":
        return (value == "created") == change.created
    if field == "priority" and op == "at_least":
        return ticket.priority.rank >= TicketPriority(value).rank
    current = {
        "channel": ticket.channel.value, "priority": ticket.priority.value,
        "status": ticket.status.value, "customer": ticket.requester_id,
    }[field]
    return (current == value) if op == "is" else (current != value)


def matches(
    conditions: Mapping[str, Any], ticket: Ticket, change: Change, *, open_now: bool
) -> bool:
    every: Sequence[Mapping[str, Any]] = conditions.get("all", [])
    some: Sequence[Mapping[str, Any]] = conditions.get("any", [])
    return all(_holds(c, ticket, change, open_now) for c in every) and (
        not some or any(_holds(c, ticket, change, open_now) for c in some)
    )


async def active(session: AsyncSession) -> list[Trigger]:
    return list(await session.scalars(
        select(Trigger).where(Trigger.active).order_by(Trigger.position, Trigger.id)
    ))


async def run(session: AsyncSession, ticket: Ticket, change: Change) -> list[str]:
    """Apply every active trigger whose conditions hold; the names of those that fired.

    A trigger whose actions no longer work (a group since deleted) is skipped, never
    allowed to stop the contact from landing.
    """
    fired = []
    open_now: bool | None = None
    for trigger in await active(session):
        if not (trigger.on_create if change.created else trigger.on_update):
            continue
        if open_now is None:
            policy = await sla.policy_for(session, priority=ticket.priority)
            open_now = sla.hours_of(policy).is_open(change.at) if policy else True
        if not matches(trigger.conditions, ticket, change, open_now=open_now):
            continue
        notices = [action for action in trigger.actions if "notify" in action]
        try:
            changes = await actions.resolve(
                session, ticket, [action for action in trigger.actions if "notify" not in action]
            )
            for position, notice in enumerate(notices, start=1):
                check_notice(notice, where=f"notice {position}")
        except (actions.ActionError, TriggerError):
            continue
        await actions.change(
            session, ticket, changes, author_id=None, via=f"trigger: {trigger.name}"
        )
        for notice in notices:
            events.record(
                session, NOTIFY_EVENT, ticket_id=ticket.id, trigger=trigger.name,
                webhook=notice["webhook"], message=notice.get("message", ""),
            )
        fired.append(trigger.name)
    return fired


def check_notice(notice: Mapping[str, Any], *, where: str) -> None:
    """Refuse a notify action that could not be sent, naming it."""
    if notice.get("notify") != "webhook":
        raise TriggerError(f"{where}: notify takes 'webhook'")
    if not (isinstance(notice.get("webhook"), str) and notice["webhook"].strip()):
        raise TriggerError(f"{where}: name the webhook to notify")
    message = notice.get("message", "")
    if not isinstance(message, str) or len(message) > MAX_MESSAGE:
        raise TriggerError(f"{where}: the message is a text of at most {MAX_MESSAGE} characters")

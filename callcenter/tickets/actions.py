"""Field changes on a ticket, each one on its timeline: what people, macros and triggers do.

Every change of a ticket's fields goes through `change`, so each leaves a field-change
event saying what changed, from what, to what, and who or what did it (an agent, a macro,
a trigger), and the SLA follows a priority or status change.

Actions, as macros and triggers store them (JSON):

    {"set": "status", "value": "solved"}       status, priority, group (by name),
    {"set": "assignee", "value": "a@b.c"}      assignee (by email; "" to unassign)
    {"add_tags": ["outage"]}  {"remove_tags": ["vip"]}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.accounts import service as accounts
from callcenter.db import utcnow
from callcenter.tickets import sla
from callcenter.tickets.models import (
    Ticket,
    TicketEvent,
    TicketEventKind,
    TicketGroup,
    TicketPriority,
    TicketStatus,
)

SETTABLE = ("status", "priority", "group", "assignee")
MAX_TAGS = 50
MAX_TAG_LENGTH = 60


class ActionError(ValueError):
    """An action that cannot be applied, and why (names the action by its position)."""


@dataclass(frozen=True)
class Changes:
    """Field values to give a ticket; None leaves a field as it is."""

    status: TicketStatus | None = None
    priority: TicketPriority | None = None
    group_id: int | None = None
    clear_group: bool = False
    assignee_id: int | None = None
    clear_assignee: bool = False
    tags: tuple[str, ...] | None = None
    subject: str | None = None


def clean_tags(tags: Sequence[str]) -> tuple[str, ...]:
    """Tags are lower case words (spaces become dashes), each once, in the order given."""
    cleaned: list[str] = []
    for tag in tags:
        word = "-".join(str(tag).strip().lower().split())[:MAX_TAG_LENGTH]
        if word and word not in cleaned:
            cleaned.append(word)
    if len(cleaned) > MAX_TAGS:
        raise ActionError(f"at most {MAX_TAGS} tags")
    return tuple(cleaned)


async def resolve(
    session: AsyncSession, ticket: Ticket, actions: Sequence[Mapping[str, Any]]
) -> Changes:
    """The changes `actions` make to `ticket` (ActionError for one that cannot work)."""
    fields: dict[str, Any] = {}
    tags = list(ticket.tags or [])
    for position, action in enumerate(actions, start=1):
        where = f"action {position}"
        if "add_tags" in action or "remove_tags" in action:
            words = action.get("add_tags") or action.get("remove_tags")
            if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
                raise ActionError(f"{where}: tags must be a list of words")
            if "add_tags" in action:
                tags = list(clean_tags([*tags, *words]))
            else:
                gone = set(clean_tags(words))
                tags = [tag for tag in tags if tag not in gone]
            fields["tags"] = tuple(tags)
            continue
        field, value = action.get("set"), action.get("value")
        if field not in SETTABLE or not isinstance(value, str):
            raise ActionError(f"{where}: expected set one of {', '.join(SETTABLE)} to a text")
        if field == "status":
            fields["status"] = _member(TicketStatus, value, where)
        elif field == "priority":
            fields["priority"] = _member(TicketPriority, value, where)
        elif field == "group":
            group = await group_named(session, name=value)
            if group is None:
                raise ActionError(f"{where}: there is no group named {value!r}")
            fields["group_id"] = group.id
        elif value == "":
            fields["clear_assignee"] = True
        else:
            user = await accounts.get_by_email(session, email=value)
            if user is None or not user.is_active:
                raise ActionError(f"{where}: there is no active user {value!r}")
            fields["assignee_id"] = user.id
    return Changes(**fields)


def _member(kind: type[TicketStatus] | type[TicketPriority], value: str, where: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        names = ", ".join(member.value for member in kind)
        raise ActionError(f"{where}: {value!r} is not one of {names}") from None


async def group_named(session: AsyncSession, *, name: str) -> TicketGroup | None:
    return await session.scalar(select(TicketGroup).where(TicketGroup.name == name))


async def change(
    session: AsyncSession,
    ticket: Ticket,
    changes: Changes,
    *,
    author_id: int | None,
    via: str = "",
) -> list[TicketEvent]:
    """Apply `changes`, one field-change event per field that really changes.

    `via` names the macro or trigger that made the change (an agent's own edit: "").
    """
    now = utcnow()
    made: list[TicketEvent] = []

    def record(field: str, old: Any, new: Any, text: str) -> None:
        data: dict[str, Any] = {"field": field, "from": old, "to": new}
        if via:
            data["via"] = via
        made.append(TicketEvent(
            ticket_id=ticket.id, kind=TicketEventKind.field_change, author_id=author_id,
            body=text + (f" ({via})" if via else ""), data=data, created_at=now,
        ))

    if changes.subject is not None and changes.subject != ticket.subject:
        record("subject", ticket.subject, changes.subject,
               f"Subject changed to {changes.subject!r}.")
        ticket.subject = changes.subject
    if changes.priority is not None and changes.priority != ticket.priority:
        record("priority", ticket.priority.value, changes.priority.value,
               f"Priority changed from {ticket.priority.value} to {changes.priority.value}.")
        ticket.priority = changes.priority
        sla.recount(ticket, await sla.policy_for(session, priority=ticket.priority))
    if changes.status is not None and changes.status != ticket.status:
        record("status", ticket.status.value, changes.status.value,
               f"Status changed from {_label(ticket.status)} to {_label(changes.status)}.")
        ticket.status = changes.status
        done = changes.status in (TicketStatus.solved, TicketStatus.closed)
        ticket.solved_at = (ticket.solved_at or now) if done else None
        sla.settle(ticket)
    group_id = None if changes.clear_group else changes.group_id
    if (changes.clear_group or changes.group_id is not None) and group_id != ticket.group_id:
        names = await _group_names(session, {ticket.group_id, group_id})
        record("group", names.get(ticket.group_id), names.get(group_id),
               f"Group changed to {names.get(group_id) or 'none'}.")
        ticket.group_id = group_id
    assignee_id = None if changes.clear_assignee else changes.assignee_id
    if (changes.clear_assignee or changes.assignee_id is not None) and (
        assignee_id != ticket.assignee_id
    ):
        emails = await accounts.emails(
            session, user_ids={i for i in (ticket.assignee_id, assignee_id) if i}
        )
        record("assignee", emails.get(ticket.assignee_id) if ticket.assignee_id else None,
               emails.get(assignee_id) if assignee_id else None,
               f"Assigned to {emails.get(assignee_id, 'nobody') if assignee_id else 'nobody'}.")
        ticket.assignee_id = assignee_id
    if changes.tags is not None and list(changes.tags) != list(ticket.tags or []):
        old = list(ticket.tags or [])
        record("tags", old, list(changes.tags),
               "Tags: " + (", ".join(changes.tags) if changes.tags else "none") + ".")
        ticket.tags = list(changes.tags)
    if made:
        session.add_all(made)
        ticket.updated_at = now
        await session.flush()
    return made


def _label(status: TicketStatus) -> str:
    return status.value.replace("_", " ")


async def _group_names(session: AsyncSession, ids: set[int | None]) -> dict[int | None, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await session.execute(
        select(TicketGroup.id, TicketGroup.name).where(TicketGroup.id.in_(wanted))
    )
    return {group_id: name for group_id, name in rows}

"""The help desk's rules as admins change them while it runs: triggers, SLA policies, the
thread window and groups. Every change is checked first (a refusal names the part at
fault) and written to the audit log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.audit import service as audit
from callcenter.business_hours import BusinessHours, HoursError
from callcenter.tickets import actions, macros, triggers
from callcenter.tickets import service as tickets
from callcenter.tickets.models import Macro, SlaPolicy, TicketGroup, TicketPriority, Trigger

MAX_THREAD_WINDOW_HOURS = 24 * 365
MAX_TARGET_MINUTES = 60 * 24 * 365


class DeskError(ValueError):
    """A change to the desk's rules that cannot be made, and why."""


async def check_trigger(
    session: AsyncSession, conditions: Mapping[str, Any], steps: Sequence[Mapping[str, Any]]
) -> None:
    """Refuse a trigger that could never work, naming the condition or action at fault."""
    try:
        triggers.check_conditions(conditions)
        for position, step in enumerate(steps, start=1):
            if "notify" in step:
                triggers.check_notice(step, where=f"action {position}")
        await macros.check(session, [dict(step) for step in steps if "notify" not in step])
    except (triggers.TriggerError, actions.ActionError) as error:
        raise DeskError(str(error)) from None
    if not steps:
        raise DeskError("actions: a trigger needs at least one action")


async def list_triggers(session: AsyncSession) -> list[Trigger]:
    return list(await session.scalars(select(Trigger).order_by(Trigger.position, Trigger.id)))


async def get_trigger(session: AsyncSession, *, trigger_id: int) -> Trigger | None:
    return await session.get(Trigger, trigger_id)


async def _name_taken(session: AsyncSession, name: str, *, besides: int | None = None) -> bool:
    query = select(Trigger.id).where(Trigger.name == name)
    if besides is not None:
        query = query.where(Trigger.id != besides)
    return await session.scalar(query) is not None


async def create_trigger(
    session: AsyncSession,
    *,
    name: str,
    conditions: dict[str, Any],
    steps: list[dict[str, Any]],
    on_create: bool,
    on_update: bool,
    position: int,
    actor_id: int | None,
) -> Trigger:
    name = name.strip()
    if await _name_taken(session, name):
        raise DeskError(f"a trigger named {name!r} exists")
    await check_trigger(session, conditions, steps)
    trigger = Trigger(
        name=name, conditions=conditions, actions=steps, on_create=on_create,
        on_update=on_update, position=position, active=True,
    )
    session.add(trigger)
    await session.flush()
    await audit.record(
        session, action="trigger.created", actor_id=actor_id, target=f"trigger:{trigger.id}",
        details={"name": name, "conditions": conditions, "actions": steps},
    )
    return trigger


async def change_trigger(
    session: AsyncSession, *, trigger: Trigger, actor_id: int | None, **fields: Any
) -> Trigger:
    """Change the given fields (name, conditions, actions, on_create, on_update, position,
    active); None leaves one as it is."""
    given = {key: value for key, value in fields.items() if value is not None}
    if "name" in given:
        given["name"] = given["name"].strip()
        if await _name_taken(session, given["name"], besides=trigger.id):
            raise DeskError(f"a trigger named {given['name']!r} exists")
    if "conditions" in given or "actions" in given:
        await check_trigger(
            session, given.get("conditions", trigger.conditions),
            given.get("actions", trigger.actions),
        )
    before = {key: getattr(trigger, key) for key in given}
    for key, value in given.items():
        setattr(trigger, key, value)
    changed = {key: value for key, value in given.items() if before[key] != value}
    if changed:
        await session.flush()
        await audit.record(
            session, action="trigger.changed", actor_id=actor_id,
            target=f"trigger:{trigger.id}", details=changed,
        )
    return trigger


async def remove_trigger(session: AsyncSession, *, trigger: Trigger, actor_id: int | None) -> None:
    await audit.record(
        session, action="trigger.removed", actor_id=actor_id, target=f"trigger:{trigger.id}",
        details={"name": trigger.name, "conditions": trigger.conditions,
                 "actions": trigger.actions},
    )
    await session.delete(trigger)
    await session.flush()


async def policies(session: AsyncSession) -> list[SlaPolicy]:
    """One per priority, most urgent first (a priority without a row has no targets)."""
    found = {p.priority: p for p in await session.scalars(select(SlaPolicy))}
    order = sorted(TicketPriority, key=lambda priority: -priority.rank)
    return [found[priority] for priority in order if priority in found]


def _check_hours(hours: str, zone: str) -> None:
    try:
        BusinessHours.parse(hours, zone=ZoneInfo(zone))
    except ZoneInfoNotFoundError:
        raise DeskError(f"zone: {zone!r} is not a time zone (e.g. Europe/Berlin)") from None
    except (HoursError, ValueError) as error:
        raise DeskError(f"hours: {error}") from None


async def set_policy(
    session: AsyncSession,
    *,
    priority: TicketPriority,
    first_reply_minutes: int | None,
    next_reply_minutes: int | None,
    resolution_minutes: int | None,
    hours: str,
    zone: str,
    actor_id: int | None,
) -> SlaPolicy:
    """A priority's targets (None: no such target) in the hours they are counted in. Open
    tickets keep the due times they have; new contacts and changes use the new policy."""
    for name, minutes in (("first_reply_minutes", first_reply_minutes),
                          ("next_reply_minutes", next_reply_minutes),
                          ("resolution_minutes", resolution_minutes)):
        if minutes is not None and not 1 <= minutes <= MAX_TARGET_MINUTES:
            raise DeskError(f"{name}: between 1 and {MAX_TARGET_MINUTES} minutes")
    _check_hours(hours, zone)
    policy = await session.get(SlaPolicy, priority) or SlaPolicy(priority=priority)
    values = {
        "first_reply_minutes": first_reply_minutes, "next_reply_minutes": next_reply_minutes,
        "resolution_minutes": resolution_minutes, "hours": hours.strip(), "zone": zone,
    }
    for key, value in values.items():
        setattr(policy, key, value)
    session.add(policy)
    await session.flush()
    await audit.record(
        session, action="sla_policy.changed", actor_id=actor_id,
        target=f"sla_policy:{priority.value}", details=values,
    )
    return policy


async def set_thread_window(session: AsyncSession, *, hours: int, actor_id: int | None) -> int:
    """How recently a customer's open ticket must have been updated for a new contact to
    join it (0: any open ticket)."""
    if not 0 <= hours <= MAX_THREAD_WINDOW_HOURS:
        raise DeskError(f"thread_window_hours: between 0 and {MAX_THREAD_WINDOW_HOURS}")
    found = await tickets.desk_settings(session)
    if found.thread_window_hours != hours:
        await audit.record(
            session, action="desk.thread_window_changed", actor_id=actor_id, target="desk",
            details={"from": found.thread_window_hours, "to": hours},
        )
        found.thread_window_hours = hours
        await session.flush()
    return hours


async def add_group(session: AsyncSession, *, name: str, actor_id: int | None) -> TicketGroup:
    name = name.strip()
    if await actions.group_named(session, name=name) is not None:
        raise DeskError(f"a group named {name!r} exists")
    group = TicketGroup(name=name)
    session.add(group)
    await session.flush()
    await audit.record(
        session, action="ticket_group.created", actor_id=actor_id,
        target=f"ticket_group:{group.id}", details={"name": name},
    )
    return group


async def set_group_address(
    session: AsyncSession, *, group: TicketGroup, email: str | None, actor_id: int | None
) -> TicketGroup:
    """The address whose mail opens the group's tickets (None: it has none)."""
    email = (email or "").strip().lower() or None
    if email == group.email:
        return group
    if email is not None:
        taken = await session.scalar(select(TicketGroup).where(TicketGroup.email == email))
        if taken is not None and taken.id != group.id:
            raise DeskError(f"{email} is the address of the group {taken.name!r}")
    group.email = email
    await audit.record(
        session, action="ticket_group.address_changed", actor_id=actor_id,
        target=f"ticket_group:{group.id}", details={"email": email},
    )
    return group


async def rename_group(
    session: AsyncSession, *, group: TicketGroup, name: str, actor_id: int | None
) -> TicketGroup:
    """The group keeps its tickets, and the macros and triggers that give tickets to it
    by name follow the new name."""
    name = name.strip()
    existing = await actions.group_named(session, name=name)
    if existing is not None and existing.id != group.id:
        raise DeskError(f"a group named {name!r} exists")
    if name == group.name:
        return group
    old = group.name
    for rule in [*await session.scalars(select(Macro)), *await session.scalars(select(Trigger))]:
        steps = [
            {**step, "value": name} if step.get("set") == "group" and step.get("value") == old
            else step
            for step in rule.actions
        ]
        if steps != rule.actions:
            rule.actions = steps
    await audit.record(
        session, action="ticket_group.renamed", actor_id=actor_id,
        target=f"ticket_group:{group.id}", details={"from": old, "to": name},
    )
    group.name = name
    await session.flush()
    return group

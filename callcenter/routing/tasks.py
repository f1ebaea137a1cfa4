"""Tasks and their reservations: what waits to be routed, and each offer made of it.

Tasks are taken by priority, then age (`entered_at`: a callback keeps its caller's place).
A task's status follows its reservations: `pending` with none open, `reserved` while an
offer rings, `assigned` once accepted, `wrapping` while the agent finishes up, then
`completed`; `canceled` when it went away unserved (the caller hung up, left a message).
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any, NamedTuple

from sqlalchemy import Select, and_, bindparam, func, or_, select, true, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, object_session

from callcenter import events
from callcenter.db import utcnow
from callcenter.routing.models import (
    Agent,
    QueueMember,
    Reservation,
    ReservationStatus,
    Task,
    TaskChannel,
    TaskQueue,
    TaskStatus,
    free_now,
)

OPEN_OFFERS = (ReservationStatus.pending, ReservationStatus.accepted)
# Offers an agent did not take: the task is not offered to them again.
DECLINED = (
    ReservationStatus.rejected, ReservationStatus.timeout, ReservationStatus.failed,
)


def _event(session: AsyncSession, name: str, task: Task, **data: Any) -> None:
    events.record(
        session, name, task_id=task.id, queue_id=task.queue_id, status=task.status.value,
        call_id=task.call_id, **data,
    )


async def create_task(
    session: AsyncSession,
    *,
    channel: TaskChannel,
    queue: TaskQueue,
    priority: int = 0,
    attributes: dict[str, Any] | None = None,
    call_id: int | None = None,
    entered_at: dt.datetime | None = None,
) -> Task:
    now = utcnow()
    task = Task(
        channel=channel, queue_id=queue.id, priority=priority, attributes=attributes or {},
        call_id=call_id, entered_at=entered_at or now, step=0, step_started_at=now,
        status=TaskStatus.pending, attempts=0,
    )
    session.add(task)
    await session.flush()
    _event(session, "routing.task.created", task, priority=priority)
    return task


async def get_task(session: AsyncSession, *, task_id: int, lock: bool = False) -> Task | None:
    if not lock:
        return await session.get(Task, task_id)
    return await session.scalar(
        select(Task).where(Task.id == task_id).with_for_update()
        .execution_options(populate_existing=True)
    )


async def voice_task(session: AsyncSession, *, call_id: int, lock: bool = False) -> Task | None:
    """The task that routes a caller's call now: its latest (a transfer makes another)."""
    query = (
        select(Task)
        .where(Task.call_id == call_id, Task.channel == TaskChannel.voice)
        .order_by(Task.id.desc())
        .limit(1)
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


def waiting() -> list[Any]:
    """A task waiting for an agent now: pending, its caller not on the way out, and (a
    callback between attempts) due."""
    return [
        Task.status == TaskStatus.pending,
        Task.leaving.is_(None),
        or_(Task.available_at.is_(None), Task.available_at <= utcnow()),
    ]


def in_line() -> tuple[Any, ...]:
    """A line's order: highest priority, then oldest (ix_task_waiting holds it)."""
    return (Task.priority.desc(), Task.entered_at, Task.id)


# Queues with a task waiting and someone free, each found at its first such row.
_STAFFED_NOW = select(TaskQueue.id).where(
    select(Task.id)
    .where(Task.queue_id == TaskQueue.id, Task.status == TaskStatus.pending)
    .exists(),
    select(QueueMember.agent_id)
    .join(Agent, Agent.id == QueueMember.agent_id)
    .where(QueueMember.queue_id == TaskQueue.id, free_now(bindparam("now")))
    .exists(),
)
# Queues per merged statement: SQLite refuses a UNION of more than 500 parts.
_QUEUES_AT_ONCE = 100


@functools.cache
def _lines(queues: int, *, paged: bool) -> Select[Any]:
    """The first `limit` waiting tasks of `queues` queues (bound as q0, q1, ...), each
    queue's line read off ix_task_waiting in order and the lines merged; `paged`: only
    those after a cursor. Built once per shape, since building it and binding its values
    cost more than running it."""
    due = or_(Task.available_at.is_(None), Task.available_at <= bindparam("now"))
    # After the cursor in line order (priority down, then entered_at, then id up).
    priority, entered, last = bindparam("priority"), bindparam("entered"), bindparam("last")
    after = or_(
        Task.priority < priority,
        and_(Task.priority == priority, or_(
            Task.entered_at > entered, and_(Task.entered_at == entered, Task.id > last),
        )),
    ) if paged else true()
    lines = [
        select(Task.id, Task.queue_id, Task.priority, Task.entered_at)
        .where(
            Task.queue_id == bindparam(f"q{n}"), Task.status == TaskStatus.pending,
            Task.leaving.is_(None), due, after,
        )
        .order_by(*in_line())
        .limit(bindparam("limit"))
        .subquery()
        for n in range(queues)
    ]
    merged = union_all(*(select(*line.c) for line in lines)).subquery()
    return (
        select(merged.c.id, merged.c.queue_id, merged.c.priority, merged.c.entered_at)
        .order_by(merged.c.priority.desc(), merged.c.entered_at, merged.c.id)
        .limit(bindparam("limit"))
    )


class Waiting(NamedTuple):
    """A task in line, with its place in the order (a cursor to read on from)."""

    task_id: int
    queue_id: int
    priority: int
    entered_at: dt.datetime


async def waiting_line(
    session: AsyncSession, *, limit: int, after: Waiting | None = None
) -> list[Waiting]:
    """Waiting tasks that someone free could take, across every queue, highest priority
    then oldest first. Only queues with a free member count, so a
    long line in a queue whose agents are all busy never hides a caller another queue's
    free agent could take.

    Two short reads rather than one sort of every waiting task: the queues where someone
    is free, then each one's line, capped at `limit`, merged. Read a page at a time, on
    from `after` (the last task of the page before), since few tasks of a long line find
    someone free in one pass."""
    now = utcnow()
    queue_ids = list(await session.scalars(_STAFFED_NOW, {"now": now}))
    found: list[Waiting] = []
    for start in range(0, len(queue_ids), _QUEUES_AT_ONCE):
        group = queue_ids[start:start + _QUEUES_AT_ONCE]
        values: dict[str, Any] = {f"q{n}": queue_id for n, queue_id in enumerate(group)}
        if after is not None:
            values.update(priority=after.priority, entered=after.entered_at, last=after.task_id)
        rows = await session.execute(
            _lines(len(group), paged=after is not None), {**values, "now": now, "limit": limit}
        )
        found.extend(Waiting(*row) for row in rows)
    if len(queue_ids) > _QUEUES_AT_ONCE:
        found.sort(key=lambda w: (-w.priority, w.entered_at, w.task_id))
    return found[:limit]


async def lock_waiting(session: AsyncSession, *, task_id: int) -> Task | None:
    """The task, locked, if it still waits; None if not, or if another instance holds it
    right now (it is offering it: skip, rather than wait and offer it twice)."""
    return await session.scalar(
        select(Task)
        .where(Task.id == task_id, *waiting())
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )


async def position(session: AsyncSession, *, task: Task) -> int:
    """The task's place in its queue's line (1 = next): tasks ahead by priority, then age."""
    ahead = await session.scalar(
        select(func.count())
        .select_from(Task)
        .where(
            *waiting(),
            Task.queue_id == task.queue_id,
            Task.id != task.id,
            or_(
                Task.priority > task.priority,
                (Task.priority == task.priority) & (Task.entered_at < task.entered_at),
                (Task.priority == task.priority)
                & (Task.entered_at == task.entered_at)
                & (Task.id < task.id),
            ),
        )
    )
    return (ahead or 0) + 1


async def waiting_in(session: AsyncSession, *, queue_id: int) -> int:
    return await session.scalar(
        select(func.count()).select_from(Task).where(*waiting(), Task.queue_id == queue_id)
    ) or 0


async def list_waiting(session: AsyncSession, *, queue_id: int | None = None) -> list[Task]:
    query = select(Task).where(*waiting()).order_by(Task.queue_id, *in_line())
    if queue_id is not None:
        query = query.where(Task.queue_id == queue_id)
    return list(await session.scalars(query))


def set_status(task: Task, status: TaskStatus, *, reason: str | None = None) -> None:
    """Move a task on (recorded as `routing.task.updated`)."""
    if task.status == status and reason is None:
        return
    task.status = status
    now = utcnow()
    if reason is not None:
        task.reason = reason
    if status == TaskStatus.assigned and task.assigned_at is None:
        task.assigned_at = now
        task.wait_seconds = _seconds(now - task.entered_at)
    if status == TaskStatus.wrapping:
        task.wrapup_started_at = now
    if status in (TaskStatus.completed, TaskStatus.canceled):
        task.completed_at = now
        if task.wait_seconds is None:
            task.wait_seconds = _seconds(now - task.entered_at)
        if task.wrapup_started_at is not None:
            task.wrapup_seconds = _seconds(now - task.wrapup_started_at)
    session = object_session(task)
    if session is not None:
        _event(session, "routing.task.updated", task, reason=task.reason)  # type: ignore[arg-type]


def _seconds(delta: dt.timedelta) -> int:
    return max(0, round(delta.total_seconds()))


# --- reservations -------------------------------------------------------------------------


async def create_reservation(session: AsyncSession, *, task: Task, agent_id: int) -> Reservation:
    reservation = Reservation(task_id=task.id, agent_id=agent_id, status=ReservationStatus.pending)
    session.add(reservation)
    await session.flush()
    if task.status == TaskStatus.pending:
        set_status(task, TaskStatus.reserved)
    _reservation_event(session, "routing.reservation.created", reservation)
    return reservation


def _reservation_event(session: AsyncSession, name: str, reservation: Reservation) -> None:
    events.record(
        session, name, reservation_id=reservation.id, task_id=reservation.task_id,
        agent_id=reservation.agent_id, status=reservation.status.value,
    )


async def get_reservation(session: AsyncSession, *, reservation_id: int) -> Reservation | None:
    return await session.get(Reservation, reservation_id)


async def open_reservations(session: AsyncSession, *, task_id: int) -> list[Reservation]:
    """The offers in flight for a task (several while a ring-all queue rings everyone)."""
    rows = await session.scalars(
        select(Reservation)
        .where(Reservation.task_id == task_id, Reservation.status.in_(OPEN_OFFERS))
        .order_by(Reservation.id)
    )
    return list(rows)


async def accepted_reservation(session: AsyncSession, *, task_id: int) -> Reservation | None:
    return await session.scalar(
        select(Reservation).where(
            Reservation.task_id == task_id, Reservation.status == ReservationStatus.accepted
        )
    )


# How long an agent who declined a task (or could not be rung for it) is not offered it
# again: long enough to try the others, short enough that a one-agent queue still works.
DECLINE_MEMORY = dt.timedelta(minutes=2)


async def agents_who_declined(session: AsyncSession, *, task_id: int) -> set[int]:
    """Agents not to offer this task to now: their offer of it ended, declined or failed, in
    the last DECLINE_MEMORY."""
    rows = await session.scalars(
        select(Reservation.agent_id).where(
            Reservation.task_id == task_id,
            Reservation.status.in_(DECLINED),
            Reservation.ended_at >= utcnow() - DECLINE_MEMORY,
        )
    )
    return set(rows)


def accept(reservation: Reservation, task: Task) -> None:
    """The agent picked up: the task is theirs."""
    reservation.status = ReservationStatus.accepted
    reservation.answered_at = utcnow()
    set_status(task, TaskStatus.assigned)
    session = object_session(reservation)
    if session is not None:
        _reservation_event(session, "routing.reservation.accepted", reservation)  # type: ignore[arg-type]


def set_hold(reservation: Reservation, *, on: bool) -> None:
    """The agent put their caller on hold, or took them off it (the seconds held add up)."""
    now = utcnow()
    if on:
        reservation.held_at = reservation.held_at or now
    elif reservation.held_at is not None:
        reservation.hold_seconds += max(0, round((now - reservation.held_at).total_seconds()))
        reservation.held_at = None


def close(reservation: Reservation, *, status: ReservationStatus) -> None:
    reservation.status = status
    reservation.ended_at = utcnow()
    session = object_session(reservation)
    if session is not None:
        _reservation_event(session, "routing.reservation.closed", reservation)  # type: ignore[arg-type]


async def stale_reservations(
    session: AsyncSession,
    *,
    ringing_before: dt.datetime,
    answered_before: dt.datetime | None = None,
) -> list[Reservation]:
    """Offers that should have ended by now: ringing past any ring timeout (the agent was
    never rung, or the callback was lost), or (with `answered_before`) answered long ago
    (the end was lost)."""
    stale = (Reservation.status == ReservationStatus.pending) & (
        Reservation.created_at < ringing_before
    )
    if answered_before is not None:
        stale = stale | (
            (Reservation.status == ReservationStatus.accepted)
            & (Reservation.created_at < answered_before)
        )
    return list(await session.scalars(select(Reservation).where(stale)))


async def complete_wrapping(session: AsyncSession, *, agent_id: int) -> list[Task]:
    """The agent's wrap-up ended: the task they were wrapping up is completed, and their
    offer says when wrap-up ended. Answers the tasks completed."""
    rows = await session.execute(
        select(Task, Reservation)
        .join(Reservation, Reservation.task_id == Task.id)
        .where(
            Reservation.agent_id == agent_id,
            Reservation.status == ReservationStatus.completed,
            Task.status == TaskStatus.wrapping,
        )
    )
    now = utcnow()
    done = []
    for task, reservation in rows:
        set_status(task, TaskStatus.completed)
        if reservation.wrapup_ended_at is None:
            reservation.wrapup_ended_at = now
        done.append(task)
    return done


async def answered_offers(
    session: AsyncSession, *, call_id: int
) -> list[tuple[Reservation, int]]:
    """Every offer of this call an agent answered (transfers and consults included), with
    the agent's user id: whose time the call took."""
    rows = await session.execute(
        select(Reservation, Agent.user_id)
        .join(Task, Task.id == Reservation.task_id)
        .join(Agent, Agent.id == Reservation.agent_id)
        .where(Task.call_id == call_id, Reservation.answered_at.is_not(None))
        .order_by(Reservation.id)
    )
    return [(reservation, user_id) for reservation, user_id in rows]


# What a handle time is taken to be before a queue has any history of its own.
DEFAULT_HANDLE_SECONDS = 180
HANDLE_SAMPLE = 20


async def estimated_wait(
    session: AsyncSession, *, queue_id: int, position: int, agents_staffing: int
) -> int:
    """Seconds until a caller at `position` is likely answered: the queue's recent handle
    time (answer to the end of wrap-up, over its last HANDLE_SAMPLE tasks) times the
    callers ahead, shared among the agents who staff the queue."""
    rows = await session.execute(
        select(Task.assigned_at, Task.completed_at)
        .where(
            Task.queue_id == queue_id,
            Task.status == TaskStatus.completed,
            Task.assigned_at.is_not(None),
        )
        .order_by(Task.completed_at.desc())
        .limit(HANDLE_SAMPLE)
    )
    handled = [
        (done - assigned).total_seconds() for assigned, done in rows if assigned and done
    ]
    handle = sum(handled) / len(handled) if handled else DEFAULT_HANDLE_SECONDS
    return round(position * handle / max(1, agents_staffing))


def record_queue_result(task: Task, *, result: str, queue_seconds: int | None) -> None:
    """The caller left the Twilio queue (to an agent, voicemail or by hanging up) after
    QueueTime seconds: Twilio's figure is the wait the caller lived through."""
    task.queue_result = result[:20] or "unknown"
    if queue_seconds is not None:
        task.wait_seconds = queue_seconds


async def move(session: AsyncSession, *, task: Task, queue: TaskQueue, reason: str) -> None:
    """Route a waiting task from another queue from now on (overflow, an escalation step),
    keeping its age: it is still behind the callers who came before it."""
    task.queue_id = queue.id
    task.step_started_at = utcnow()
    await session.flush()
    _event(session, "routing.task.updated", task, reason=reason)


async def open_offers_of(session: AsyncSession, *, agent_id: int) -> list[Reservation]:
    rows = await session.scalars(
        select(Reservation).where(
            Reservation.agent_id == agent_id, Reservation.status.in_(OPEN_OFFERS)
        )
    )
    return list(rows)


async def another_agent_on(session: AsyncSession, *, call_id: int, besides: int) -> bool:
    """Whether another agent than reservation `besides`'s has the call now (it was
    transferred to them, or they are consulted about it)."""
    return bool(await session.scalar(select(
        select(Reservation.id)
        .join(Task, Task.id == Reservation.task_id)
        .where(
            Task.call_id == call_id,
            Reservation.id != besides,
            Reservation.status == ReservationStatus.accepted,
        )
        .exists()
    )))


async def waiting_for_agent(session: AsyncSession, *, call_id: int) -> bool:
    """Whether a voice task of the call waits for an agent (a transfer being offered)."""
    return bool(await session.scalar(select(
        select(Task.id)
        .where(
            Task.call_id == call_id,
            Task.channel == TaskChannel.voice,
            Task.status.in_((TaskStatus.pending, TaskStatus.reserved)),
        )
        .exists()
    )))


async def calls_left_by_agents(
    session: AsyncSession, *, ended_after: dt.datetime, ended_before: dt.datetime
) -> list[int]:
    """Calls whose answered voice task ended in that window and that nobody has now: no
    agent on them, no task of theirs waiting. Their caller was meant to be hung up when the
    agent left; the watchdog makes sure of it (see `flows.watchdog`)."""
    other = aliased(Task)
    busy = (
        select(other.id)
        .outerjoin(Reservation, Reservation.task_id == other.id)
        .where(
            other.call_id == Task.call_id,
            or_(
                other.status.in_((TaskStatus.pending, TaskStatus.reserved)),
                Reservation.status == ReservationStatus.accepted,
            ),
        )
        .exists()
    )
    rows = await session.scalars(
        select(Task.call_id)
        .join(Reservation, Reservation.task_id == Task.id)
        .where(
            Task.channel == TaskChannel.voice,
            Task.call_id.is_not(None),
            Reservation.status == ReservationStatus.completed,
            Reservation.ended_at > ended_after,
            Reservation.ended_at < ended_before,
            ~busy,
        )
        .distinct()
    )
    return list(rows)


async def ticket_dialled_from(session: AsyncSession, *, call_sid: str) -> int | None:
    """The ticket an outbound call was made from (click-to-call), if it was."""
    return await session.scalar(
        select(Task.ticket_id)
        .join(Reservation, Reservation.task_id == Task.id)
        .where(Reservation.customer_call_sid == call_sid)
        .limit(1)
    )


async def wrapping_for(session: AsyncSession, *, agent_id: int) -> Reservation | None:
    """The agent's finished offer whose task they are still wrapping up."""
    return await session.scalar(
        select(Reservation)
        .join(Task, Task.id == Reservation.task_id)
        .where(
            Task.status == TaskStatus.wrapping,
            Reservation.agent_id == agent_id,
            Reservation.status == ReservationStatus.completed,
        )
        .order_by(Reservation.id.desc())
        .limit(1)
    )


def _unanswered() -> tuple[Any, ...]:
    """Not with an agent yet: waiting or being offered, not on the way out, and (a callback
    between attempts) due."""
    return (
        Task.status.in_((TaskStatus.pending, TaskStatus.reserved)),
        Task.leaving.is_(None),
        or_(Task.available_at.is_(None), Task.available_at <= utcnow()),
    )


async def not_yet_answered(session: AsyncSession, *, limit: int) -> list[Task]:
    """Callers and callbacks still in line, those being offered (ringing) included, in line
    order across queues: what a supervisor's board lists as waiting."""
    query = select(Task).where(*_unanswered()).order_by(*in_line()).limit(limit)
    return list(await session.scalars(query))


async def unanswered_by_queue(session: AsyncSession) -> dict[int, tuple[int, dt.datetime]]:
    """Per queue: how many are not yet answered (as `not_yet_answered`), and the oldest's
    entry time."""
    rows = await session.execute(
        select(Task.queue_id, func.count(), func.min(Task.entered_at))
        .where(*_unanswered(), Task.queue_id.is_not(None))
        .group_by(Task.queue_id)
    )
    return {queue_id: (count, oldest) for queue_id, count, oldest in rows}


async def current_tasks(session: AsyncSession) -> dict[int, Task]:
    """Each agent's task while it rings, is talked through or wrapped up, by agent id: read
    from the open offers and the tasks in wrap-up (both indexed), not every offer made."""
    rows = [
        *await session.execute(
            select(Reservation.agent_id, Task)
            .join(Task, Task.id == Reservation.task_id)
            .where(Reservation.status.in_(OPEN_OFFERS))
        ),
        *await session.execute(
            select(Reservation.agent_id, Task)
            .join(Reservation, Reservation.task_id == Task.id)
            .where(
                Task.status == TaskStatus.wrapping,
                Reservation.status == ReservationStatus.completed,
            )
        ),
    ]
    return {agent_id: task for agent_id, task in rows}


class DayFigures(NamedTuple):
    """A queue's calls since the start of the day, as a board shows them."""

    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    # Answered within the queue's service-level threshold.
    answered_in_time: int = 0
    # Seconds answered callers waited, and how long handled calls took (talk and wrap-up).
    wait_seconds: float = 0
    handled: int = 0
    handle_seconds: float = 0


async def day_figures(session: AsyncSession, *, since: dt.datetime) -> dict[int, DayFigures]:
    """Every queue's voice calls that entered since `since`: offered, answered, abandoned
    and answered in time counted by the database; waits and handle times summed from the
    answered calls' rows (one row per answered call today)."""
    answered = Task.assigned_at.is_not(None)
    counted = await session.execute(
        select(
            Task.queue_id,
            func.count(),
            func.count().filter(answered),
            func.count().filter(Task.reason == "abandoned", ~answered),
            func.count().filter(answered, Task.wait_seconds <= TaskQueue.service_level_seconds),
        )
        .join(TaskQueue, TaskQueue.id == Task.queue_id)
        .where(Task.channel == TaskChannel.voice, Task.entered_at >= since)
        .group_by(Task.queue_id)
    )
    figures = {
        queue_id: DayFigures(offered, picked_up, abandoned, in_time)
        for queue_id, offered, picked_up, abandoned, in_time in counted
    }
    rows = await session.execute(
        select(Task.queue_id, Task.wait_seconds, Task.assigned_at, Task.completed_at)
        .where(Task.channel == TaskChannel.voice, Task.entered_at >= since, answered)
    )
    for queue_id, waited, assigned_at, completed_at in rows:
        day = figures.get(queue_id)
        if day is None:
            continue
        handled = completed_at is not None and assigned_at is not None
        figures[queue_id] = day._replace(
            wait_seconds=day.wait_seconds + (waited or 0),
            handled=day.handled + handled,
            handle_seconds=day.handle_seconds
            + ((completed_at - assigned_at).total_seconds() if handled else 0),
        )
    return figures

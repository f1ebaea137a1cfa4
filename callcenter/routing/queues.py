"""Task queues: their settings, the agents each selects, and their live counts.

Which agents a queue selects is worked out when it can change (a queue's expression, an
agent's skills or languages) and kept in `queue_member`, so routing a caller is an indexed
join, never an expression evaluated per agent while someone waits.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter import events
from callcenter.db import utcnow
from callcenter.routing import expressions, tasks
from callcenter.routing.models import (
    Agent,
    QueueMember,
    Strategy,
    Task,
    TaskQueue,
    TaskStatus,
    Workflow,
    free_now,
    staffing,
)

VOICEMAIL = "voicemail"


class QueueError(ValueError):
    """A queue setting that cannot be used: names the field and the reason."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


async def get_queue(session: AsyncSession, *, queue_id: int) -> TaskQueue | None:
    return await session.get(TaskQueue, queue_id)


async def queue_named(session: AsyncSession, *, name: str) -> TaskQueue | None:
    return await session.scalar(select(TaskQueue).where(TaskQueue.name == name))


async def list_queues(session: AsyncSession) -> list[TaskQueue]:
    return list(await session.scalars(select(TaskQueue).order_by(TaskQueue.name)))


async def names(session: AsyncSession) -> set[str]:
    return set(await session.scalars(select(TaskQueue.name)))


def _check_expression(text: str) -> str:
    try:
        expressions.parse(text)
    except expressions.ExpressionError as error:
        raise QueueError("expression", str(error)) from None
    return text.strip() or "1==1"


async def _check_overflow(session: AsyncSession, *, overflow: str | None, own: str) -> None:
    if overflow in (None, VOICEMAIL):
        return
    if overflow == own:
        raise QueueError("overflow", "a queue cannot overflow into itself")
    target = await queue_named(session, name=overflow)
    if target is None:
        raise QueueError("overflow", f"there is no queue named {overflow!r}")
    seen = [own, overflow]
    while target is not None and target.overflow not in (None, VOICEMAIL):
        if target.overflow in seen:
            chain = " -> ".join([*seen, target.overflow])
            raise QueueError("overflow", f"callers would go round in a circle: {chain}")
        seen.append(target.overflow)
        target = await queue_named(session, name=target.overflow)


NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")


async def create_queue(session: AsyncSession, *, name: str, **fields: Any) -> TaskQueue:
    """A new queue, refused with the field and reason when a setting cannot work. The name
    is what IVR queue nodes use, so it takes their shape, and is never the overflow
    keyword "voicemail"."""
    if not NAME.fullmatch(name):
        raise QueueError(
            "name", "lower-case letters, digits, - and _, starting with a letter (63 at most)"
        )
    if name == VOICEMAIL:
        raise QueueError("name", f"{VOICEMAIL!r} means leaving a message, not a queue")
    if await queue_named(session, name=name) is not None:
        raise QueueError("name", f"a queue named {name!r} exists already")
    fields["expression"] = _check_expression(fields.get("expression") or "1==1")
    await _check_overflow(session, overflow=fields.get("overflow"), own=name)
    queue = TaskQueue(name=name, **fields)
    session.add(queue)
    await session.flush()
    await refresh_members(session, queue=queue)
    events.record(session, "routing.queue.changed", queue_id=queue.id)
    return queue


async def update_queue(session: AsyncSession, *, queue: TaskQueue, **fields: Any) -> TaskQueue:
    """Change a queue's settings; a new expression re-selects its agents at once. The name
    stays: IVR nodes, overflows and workflows refer to the queue by it."""
    if "name" in fields and fields["name"] != queue.name:
        raise QueueError("name", "a queue keeps its name; make a new queue instead")
    if "expression" in fields:
        fields["expression"] = _check_expression(fields["expression"] or "1==1")
    if "overflow" in fields:
        await _check_overflow(session, overflow=fields["overflow"], own=queue.name)
    changed_expression = fields.get("expression", queue.expression) != queue.expression
    for key, value in fields.items():
        setattr(queue, key, value)
    await session.flush()
    if changed_expression:
        await refresh_members(session, queue=queue)
    events.record(session, "routing.queue.changed", queue_id=queue.id)
    return queue


async def in_use(session: AsyncSession, *, queue: TaskQueue) -> str | None:
    """Why a queue cannot be deleted now, or None."""
    if await session.scalar(
        select(Task.id).where(Task.queue_id == queue.id, Task.status.in_(OPEN)).limit(1)
    ):
        return "tasks are waiting in it or being handled"
    others = await session.scalars(select(TaskQueue).where(TaskQueue.overflow == queue.name))
    if (other := others.first()) is not None:
        return f"queue {other.name!r} overflows into it"
    return None


async def delete_queue(session: AsyncSession, *, queue: TaskQueue) -> None:
    """Delete a queue no open task uses; finished tasks forget it (their tickets keep its
    name)."""
    await session.delete(queue)
    await session.flush()
    events.record(session, "routing.queue.changed", queue_id=queue.id)


OPEN = (TaskStatus.pending, TaskStatus.reserved, TaskStatus.assigned, TaskStatus.wrapping)


def _selects(queue: TaskQueue) -> expressions.Expression:
    return expressions.parse(queue.expression)


async def refresh_members(session: AsyncSession, *, queue: TaskQueue) -> None:
    """Re-select the queue's agents from its expression (keeping round-robin order)."""
    expression = _selects(queue)
    agents = await session.execute(select(Agent.id, Agent.skills, Agent.languages))
    wanted = {
        agent_id
        for agent_id, skills, languages in agents
        if expression.matches({"skills": skills or {}, "languages": languages or []})
    }
    await _sync(session, fixed=QueueMember.queue_id, key=queue.id, wanted=wanted)


async def refresh_agent(session: AsyncSession, *, agent: Agent) -> None:
    """Re-select which queues take this agent (after their skills or languages changed)."""
    attributes = agent.attributes()
    queues = await session.execute(select(TaskQueue.id, TaskQueue.expression))
    wanted = {qid for qid, text in queues if expressions.parse(text).matches(attributes)}
    await _sync(session, fixed=QueueMember.agent_id, key=agent.id, wanted=wanted)


async def _sync(session: AsyncSession, *, fixed: Any, key: int, wanted: set[int]) -> None:
    """Make one queue's agents (`fixed` = queue_id) or one agent's queues (`fixed` =
    agent_id) exactly `wanted`, touching only the rows that change (round-robin order is
    kept on the rest)."""
    varying = QueueMember.agent_id if fixed is QueueMember.queue_id else QueueMember.queue_id
    present = set(await session.scalars(select(varying).where(fixed == key)))
    if gone := present - wanted:
        await session.execute(delete(QueueMember).where(fixed == key, varying.in_(gone)))
    if new := wanted - present:
        await session.execute(
            insert(QueueMember), [{fixed.key: key, varying.key: other} for other in sorted(new)]
        )


async def queues_of(session: AsyncSession, *, agent_id: int) -> list[str]:
    return (await memberships(session, agent_ids=[agent_id])).get(agent_id, [])


async def memberships(session: AsyncSession, *, agent_ids: list[int]) -> dict[int, list[str]]:
    """The names of the queues that take each of these agents, in one query."""
    rows = await session.execute(
        select(QueueMember.agent_id, TaskQueue.name)
        .join(TaskQueue, TaskQueue.id == QueueMember.queue_id)
        .where(QueueMember.agent_id.in_(agent_ids))
        .order_by(TaskQueue.name)
    )
    found: dict[int, list[str]] = {}
    for agent_id, name in rows:
        found.setdefault(agent_id, []).append(name)
    return found


def members(queue_id: int) -> Any:
    """A subquery of the ids of a queue's agents."""
    return select(QueueMember.agent_id).where(QueueMember.queue_id == queue_id)


async def staffed_names(session: AsyncSession) -> frozenset[str]:
    """The queues somebody staffs now (a caller sent to any other goes to `no_agents`)."""
    # One EXISTS per queue (a handful), stopping at the first staffing member, rather than
    # joining every membership: this runs on every incoming call and menu choice.
    someone = (
        select(QueueMember.agent_id)
        .join(Agent, Agent.id == QueueMember.agent_id)
        .where(QueueMember.queue_id == TaskQueue.id, staffing())
        .exists()
    )
    return frozenset(await session.scalars(select(TaskQueue.name).where(someone)))


async def staffing_count(session: AsyncSession, *, queue_id: int) -> int:
    """How many of the queue's agents staff the phones now (for the estimated wait)."""
    return await session.scalar(
        select(func.count())
        .select_from(Agent)
        .join(QueueMember, QueueMember.agent_id == Agent.id)
        .where(QueueMember.queue_id == queue_id, staffing())
    ) or 0


@dataclass(frozen=True)
class Counts:
    """A queue's live figures, for the API and the board."""

    waiting: int
    longest_wait_seconds: int
    agents: int
    agents_staffing: int
    agents_free: int


async def counts(session: AsyncSession) -> dict[int, Counts]:
    """Every queue's live figures, in three grouped queries."""
    now = utcnow()
    waiting = {
        qid: (n, oldest)
        for qid, n, oldest in await session.execute(
            select(Task.queue_id, func.count(), func.min(Task.entered_at))
            .where(*tasks.waiting())
            .group_by(Task.queue_id)
        )
    }
    agents = {
        qid: (n, on, free)
        for qid, n, on, free in await session.execute(
            select(
                QueueMember.queue_id,
                func.count(),
                func.count().filter(staffing()),
                func.count().filter(free_now(now)),
            )
            .join(Agent, Agent.id == QueueMember.agent_id)
            .group_by(QueueMember.queue_id)
        )
    }
    result = {}
    for qid in set(await session.scalars(select(TaskQueue.id))):
        n, oldest = waiting.get(qid, (0, None))
        total, on, free = agents.get(qid, (0, 0, 0))
        result[qid] = Counts(
            waiting=n,
            longest_wait_seconds=_seconds(now - oldest) if oldest else 0,
            agents=total,
            agents_staffing=on,
            agents_free=free,
        )
    return result


def _seconds(delta: dt.timedelta) -> int:
    return max(0, round(delta.total_seconds()))


async def workflow_for(session: AsyncSession, *, queue_id: int) -> Workflow | None:
    return await session.scalar(select(Workflow).where(Workflow.queue_id == queue_id))


async def ensure(session: AsyncSession, *, names_wanted: set[str]) -> set[str]:
    """Make the named queues if the database has no queues at all (a first start, so the
    shipped flow works out of the box); returns the names that still do not exist."""
    have = await names(session)
    if not have:
        for name in sorted(names_wanted):
            session.add(
                TaskQueue(
                    name=name, description=f"{name.title()} (made for the IVR flow)",
                    expression="1==1", strategy=Strategy.longest_idle, wrapup_seconds=0,
                    service_level_seconds=30,
                )
            )
        await session.flush()
        for queue in await list_queues(session):
            await refresh_members(session, queue=queue)
        return set()
    return names_wanted - have

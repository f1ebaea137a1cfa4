"""The routing decision: which free agents a task goes to, in the queue's strategy's order.

This is the hot path (`benchmarks/routing.py` measures it with 10,000 agents). One query
reads a few of the queue's free members at a time, already in the strategy's order, walking
an index in that order rather than sorting every free member: the agent table's for the
strategies ordered by the agent (idle time, today's calls or talk time), queue_member's for
round robin. Being free is two cases that no one index orders together (idle; a wrap-up
that is over), so each case is its own capped branch of one UNION ALL. Only the columns a
decision needs are read, not whole agents. The task's own requirements (required skills, a
language, a workflow step's narrower expression) are checked on those rows, and the first
that pass are claimed with one conditional UPDATE each.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import AsyncIterator
from typing import Any, NamedTuple

from sqlalchemy import (
    Select,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from callcenter.db import utcnow
from callcenter.routing import agents, tasks, workflows
from callcenter.routing.expressions import Expression
from callcenter.routing.models import (
    Agent,
    QueueMember,
    RoutingState,
    Strategy,
    Task,
    TaskQueue,
    idle_now,
    wrapup_over,
)

# How many candidates the first query reads: for a task any of the queue's agents may take,
# a few (the first is the one, unless another instance claims them first); for a task with
# needs of its own, BATCH. Each further query reads four times as many, up to MAX_BATCH.
FEW = 4
BATCH = 16
MAX_BATCH = 1024
# Ring-all rings at most this many agents for one task.
RING_ALL_LIMIT = 50


class Candidate(NamedTuple):
    """What a decision reads of a free agent."""

    id: int
    routing_state: RoutingState
    skills: dict[str, int]
    languages: list[str]

    def attributes(self) -> dict[str, Any]:
        return {"skills": self.skills or {}, "languages": self.languages or []}


_COLUMNS = (Agent.id, Agent.routing_state, Agent.skills, Agent.languages)
_TODAY = bindparam("today")
_IDLE = idle_now()
_OVER = wrapup_over(bindparam("now"))
_EXCLUDE = Agent.id.not_in(bindparam("exclude", expanding=True))


def _branch(
    free: ColumnElement[bool], keys: tuple[Any, Any], limit: int, order: tuple[Any, ...] = ()
) -> Select[Any]:
    """The queue's members in one case of being free, in the order of an index on it
    (`order`, when the index orders by less than the merge keys)."""
    member = exists().where(
        QueueMember.queue_id == bindparam("queue_id"), QueueMember.agent_id == Agent.id
    )
    return (
        select(*_COLUMNS, keys[0].label("k1"), keys[1].label("k2"))
        .where(free, member, _EXCLUDE)
        .order_by(*(order or keys))
        .limit(limit)
    )


def _by_member(order: tuple[Any, ...], limit: int) -> Select[Any]:
    """The queue's free members in an order queue_member holds (or none at all)."""
    return (
        select(*_COLUMNS)
        .join(QueueMember, QueueMember.agent_id == Agent.id)
        .where(QueueMember.queue_id == bindparam("queue_id"), or_(_IDLE, _OVER), _EXCLUDE)
        .order_by(*order)
        .limit(limit)
    )


@functools.cache
def _statement(strategy: Strategy, limit: int) -> Select[Any]:
    """The candidates query for a strategy, built once (its values are bound per call)."""
    if strategy == Strategy.round_robin:
        # Walks ix_queue_member_offered, looking each agent up.
        return _by_member((QueueMember.last_offered_at, QueueMember.agent_id), limit)
    if strategy == Strategy.random:
        return _by_member((func.random(),), limit)
    if strategy in (Strategy.fewest_calls, Strategy.least_talk_time):
        count = (
            Agent.calls_today if strategy == Strategy.fewest_calls else Agent.talk_seconds_today
        )
        not_today = or_(Agent.stats_day.is_(None), Agent.stats_day != _TODAY)
        today = case((Agent.stats_day == _TODAY, count), else_=0)
        branches = [
            _branch(and_(_IDLE, Agent.stats_day == _TODAY), (count, Agent.idle_since), limit),
            # No call yet today: a count of 0, so by idle time alone.
            _branch(and_(_IDLE, not_today), (literal(0), Agent.idle_since), limit,
                    order=(Agent.idle_since,)),
            _branch(_OVER, (today, Agent.idle_since), limit),
        ]
    else:  # longest idle; ring-all rings in the same order
        branches = [
            _branch(_IDLE, (Agent.idle_since, Agent.id), limit),
            _branch(_OVER, (Agent.idle_since, Agent.id), limit),
        ]
    # Each branch is wrapped so its ORDER BY and LIMIT stay its own (SQLite needs that).
    merged = union_all(*(select(*branch.subquery().c) for branch in branches)).subquery()
    return (
        select(merged.c.id, merged.c.routing_state, merged.c.skills, merged.c.languages)
        .order_by(merged.c.k1, merged.c.k2)
        .limit(limit)
    )


def suits(agent: Agent | Candidate, task: Task, narrower: Expression | None) -> bool:
    """Whether this agent meets the task's own requirements (beyond the queue's)."""
    attributes = task.attributes or {}
    skills = agent.skills or {}
    if any(skill not in skills for skill in attributes.get("required_skills", ())):
        return False
    language = attributes.get("language")
    if language and language not in (agent.languages or ()):
        return False
    return narrower is None or narrower.matches(agent.attributes())


async def candidates(
    session: AsyncSession,
    *,
    queue: TaskQueue,
    exclude: set[int],
    limit: int,
    now: dt.datetime | None = None,
) -> list[Candidate]:
    """The queue's free agents in its strategy's order (those in `exclude` left out)."""
    now = now or utcnow()
    rows = await session.execute(
        _statement(queue.strategy, limit),
        {"queue_id": queue.id, "now": now, "today": now.date(), "exclude": sorted(exclude)},
    )
    return [Candidate(*row) for row in rows]


def asks_more(task: Task, narrower: Expression | None) -> bool:
    """Whether the task narrows the queue's agents further (so a first batch may not do)."""
    attributes = task.attributes or {}
    return bool(narrower or attributes.get("required_skills") or attributes.get("language"))


async def suitable(
    session: AsyncSession,
    *,
    task: Task,
    queue: TaskQueue,
    narrower: Expression | None,
    exclude: set[int],
    now: dt.datetime,
) -> AsyncIterator[Candidate]:
    """The queue's free agents who suit the task, best first, read a batch at a time.

    Agents already read are left out of the next batch, so every eligible free agent is
    reached once; each batch is four times the last, so a task few agents suit (a rare
    language) takes a few queries, not dozens. Ring-all wants every suitable agent, so it
    starts with BATCH too.
    """
    seen = set(exclude)
    few = not asks_more(task, narrower) and queue.strategy != Strategy.ring_all
    limit = FEW if few else BATCH
    while True:
        batch = await candidates(session, queue=queue, exclude=seen, limit=limit, now=now)
        seen.update(agent.id for agent in batch)
        for agent in batch:
            if suits(agent, task, narrower):
                yield agent
        if len(batch) < limit:
            return
        limit = min(limit * 4, MAX_BATCH)


async def choose(
    session: AsyncSession,
    *,
    task: Task,
    queue: TaskQueue,
    narrower: Expression | None = None,
    exclude: set[int] | None = None,
) -> list[int]:
    """Claim the agents to offer `task` to: the best one, or for ring-all every eligible
    free agent (up to RING_ALL_LIMIT). Empty when nobody suitable is free. A task at a
    workflow step with a narrower expression goes only to agents who match it too."""
    now = utcnow()
    if narrower is None and task.workflow_id is not None:
        workflow = await workflows.get_by_id(session, workflow_id=task.workflow_id)
        step = workflows.step(workflow, task.step) if workflow is not None else None
        narrower = step.expression if step is not None else None
    wanted = RING_ALL_LIMIT if queue.strategy == Strategy.ring_all else 1
    claimed: list[int] = []
    walk = suitable(
        session, task=task, queue=queue, narrower=narrower, exclude=exclude or set(), now=now
    )
    async for agent in walk:
        # The claim fails when another instance claimed them first: the next one, then.
        if not await agents.claim(session, agent_id=agent.id, task_id=task.id):
            continue
        claimed.append(agent.id)
        if agent.routing_state == RoutingState.wrap_up:
            # Their wrap-up ran out unnoticed: the task they wrapped up is done.
            await tasks.complete_wrapping(session, agent_id=agent.id)
        if len(claimed) == wanted:
            break
    await walk.aclose()
    if claimed and queue.strategy == Strategy.round_robin:
        # Round robin's order; the other strategies order by the agent's own columns.
        await session.execute(
            update(QueueMember)
            .where(QueueMember.queue_id == queue.id, QueueMember.agent_id.in_(claimed))
            .values(last_offered_at=now)
            .execution_options(synchronize_session=False)
        )
    return claimed

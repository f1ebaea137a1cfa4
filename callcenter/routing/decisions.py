"""The routing decision: which free agents a task goes to, in the queue's strategy's order.

This is the hot path (`benchmarks/routing.py` measures it with 10,000 agents): one indexed
query over the queue's members who are free now, ordered by the strategy, a few rows at a
time; the task's own requirements (required skills, a language, a workflow step's narrower
expression) are checked on those rows, and the first that pass are claimed with one
conditional UPDATE each.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

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
    free_now,
)

# How many candidates one query reads; more are read only when the task's requirements
# turned these down, or another instance claimed them first.
BATCH = 16
# Ring-all rings at most this many agents for one task.
RING_ALL_LIMIT = 50
EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def _order(strategy: Strategy, now: dt.datetime) -> list[Any]:
    today = now.date()
    if strategy == Strategy.round_robin:
        return [func.coalesce(QueueMember.last_offered_at, EPOCH), Agent.id]
    if strategy == Strategy.fewest_calls:
        return [case((Agent.stats_day == today, Agent.calls_today), else_=0), Agent.idle_since]
    if strategy == Strategy.least_talk_time:
        return [
            case((Agent.stats_day == today, Agent.talk_seconds_today), else_=0),
            Agent.idle_since,
        ]
    if strategy == Strategy.random:
        return [func.random()]
    return [Agent.idle_since, Agent.id]


def suits(agent: Agent, task: Task, narrower: Expression | None) -> bool:
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
) -> list[Agent]:
    """The queue's free agents in its strategy's order (those in `exclude` left out)."""
    now = now or utcnow()
    query = (
        select(Agent)
        .join(QueueMember, QueueMember.agent_id == Agent.id)
        .where(QueueMember.queue_id == queue.id, free_now(now))
        .order_by(*_order(queue.strategy, now))
        .limit(limit)
    )
    if exclude:
        query = query.where(Agent.id.not_in(exclude))
    return list(await session.scalars(query))


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
    # Agents already looked at (claimed, unsuitable, or taken by another instance) are
    # left out of the next batch, so every eligible free agent is reached once.
    seen = set(exclude or ())
    while len(claimed) < wanted:
        batch = await candidates(session, queue=queue, exclude=seen, limit=BATCH, now=now)
        seen.update(agent.id for agent in batch)
        for agent in batch:
            if suits(agent, task, narrower) and await agents.claim(
                session, agent_id=agent.id, task_id=task.id
            ):
                claimed.append(agent.id)
                if agent.routing_state == RoutingState.wrap_up:
                    # Their wrap-up ran out unnoticed: the task they wrapped up is done.
                    await tasks.complete_wrapping(session, agent_id=agent.id)
                if len(claimed) == wanted:
                    break
        if len(batch) < BATCH:
            break
    if claimed:
        await session.execute(
            update(QueueMember)
            .where(QueueMember.queue_id == queue.id, QueueMember.agent_id.in_(claimed))
            .values(last_offered_at=now)
            .execution_options(synchronize_session=False)
        )
    return claimed


async def next_tasks_for(session: AsyncSession, *, agent_id: int, limit: int = BATCH) -> list[int]:
    """The waiting tasks an agent could take, across all their queues, highest priority then
    oldest first: so which queue feeds an agent in several is never arbitrary."""
    rows = await session.scalars(
        select(Task.id)
        .join(QueueMember, QueueMember.queue_id == Task.queue_id)
        .where(QueueMember.agent_id == agent_id, *tasks.waiting())
        .order_by(Task.priority.desc(), Task.entered_at, Task.id)
        .limit(limit)
    )
    return list(rows)

"""Workflows: a queue's escalation steps, as TaskRouter's workflow targets.

A caller enters the workflow's own queue (step 0), maybe only for the agents a narrower
expression picks (`skill_levels.billing >= 3`); past the step's timeout the task moves on
to the next step, keeping its age, until a step without a timeout or voicemail ends the
line. Steps are checked here, before they are saved, so routing never meets a step it
cannot follow: every queue named exists, every expression parses, every step but the last
says when to move on (a step without a timeout holds its task for good, so a step after it
could never be reached).

Stored as JSON on `workflow.steps`: `{"queue": "billing", "expression": "...", "timeout":
60}`, or `{"voicemail": true}` for the last step; `step()` reads one back, compiled.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter import events
from callcenter.routing import expressions, queues
from callcenter.routing.expressions import Expression
from callcenter.routing.models import TaskQueue, Workflow

MAX_STEPS = 10
MIN_TIMEOUT = 5
MAX_TIMEOUT = 4 * 3600


class WorkflowError(ValueError):
    """Steps that cannot be followed: the step (0-based, None for the whole list) and why."""

    def __init__(self, step: int | None, reason: str) -> None:
        self.step = step
        self.reason = reason
        super().__init__(reason if step is None else f"steps[{step}]: {reason}")


@dataclass(frozen=True)
class Step:
    """One step as routing follows it: a queue (None: voicemail), the narrower expression
    its agents must also match, and the seconds before the task moves on (None: never)."""

    queue: str | None
    expression: Expression | None
    timeout: int | None


async def get_workflow(session: AsyncSession, *, queue_id: int) -> Workflow | None:
    return await session.scalar(select(Workflow).where(Workflow.queue_id == queue_id))


async def get_by_id(session: AsyncSession, *, workflow_id: int) -> Workflow | None:
    return await session.get(Workflow, workflow_id)


async def list_workflows(session: AsyncSession) -> list[Workflow]:
    return list(await session.scalars(select(Workflow).order_by(Workflow.queue_id)))


def _timeout(index: int, raw: Any, *, last: bool) -> int | None:
    if raw is None:
        if last:
            return None
        raise WorkflowError(
            index, "timeout: every step but the last needs one (seconds), or the steps after "
            "it are never reached",
        )
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise WorkflowError(index, "timeout: a whole number of seconds")
    if not MIN_TIMEOUT <= raw <= MAX_TIMEOUT:
        raise WorkflowError(index, f"timeout: from {MIN_TIMEOUT} to {MAX_TIMEOUT} seconds")
    return raw


def _expression(index: int, raw: Any) -> str | None:
    text = (raw or "").strip()
    if not text:
        return None
    try:
        expressions.parse(text)
    except expressions.ExpressionError as error:
        raise WorkflowError(index, f"expression: {error}") from None
    return text


async def _checked(
    session: AsyncSession, index: int, raw: Mapping[str, Any], *, own: str, last: bool
) -> dict[str, Any]:
    """One step as it is stored, or WorkflowError naming what is wrong with it."""
    name = raw.get("queue")
    if raw.get("voicemail"):
        if name is not None:
            raise WorkflowError(index, "a step names a queue or is voicemail, not both")
        if index == 0:
            raise WorkflowError(index, f"the first step is the workflow's own queue {own!r}")
        if not last:
            raise WorkflowError(index, "voicemail ends the workflow: it must be the last step")
        if raw.get("expression") or raw.get("timeout") is not None:
            raise WorkflowError(index, "voicemail takes no expression and no timeout")
        return {"voicemail": True}
    if not name:
        raise WorkflowError(index, 'name a queue, or end with {"voicemail": true}')
    if index == 0 and name != own:
        raise WorkflowError(index, f"the first step is the workflow's own queue {own!r}")
    if name != own and await queues.queue_named(session, name=name) is None:
        raise WorkflowError(index, f"there is no queue named {name!r}")
    step: dict[str, Any] = {"queue": name}
    if (expression := _expression(index, raw.get("expression"))) is not None:
        step["expression"] = expression
    if (timeout := _timeout(index, raw.get("timeout"), last=last)) is not None:
        step["timeout"] = timeout
    return step


async def set_workflow(
    session: AsyncSession, *, queue: TaskQueue, steps: Sequence[Mapping[str, Any]]
) -> Workflow:
    """Give `queue` these escalation steps (replacing any it had), refused with the step
    and the reason when routing could not follow them."""
    if not 1 <= len(steps) <= MAX_STEPS:
        raise WorkflowError(None, f"a workflow has from 1 to {MAX_STEPS} steps")
    last = len(steps) - 1
    stored = [
        await _checked(session, index, raw, own=queue.name, last=index == last)
        for index, raw in enumerate(steps)
    ]
    workflow = await get_workflow(session, queue_id=queue.id)
    if workflow is None:
        workflow = Workflow(queue_id=queue.id, steps=stored)
        session.add(workflow)
    else:
        workflow.steps = stored
    await session.flush()
    events.record(session, "routing.workflow.changed", queue_id=queue.id)
    return workflow


async def delete_workflow(session: AsyncSession, *, queue: TaskQueue) -> bool:
    """Take the queue's workflow away (its callers stay in the queue); False if it had none."""
    workflow = await get_workflow(session, queue_id=queue.id)
    if workflow is None:
        return False
    await session.delete(workflow)
    await session.flush()
    events.record(session, "routing.workflow.changed", queue_id=queue.id)
    return True


# Routing reads a task's step each time it offers the task (`decisions.choose`): the few
# step expressions there are are parsed once, not once an offer. An Expression is immutable.
_compiled = functools.lru_cache(maxsize=1024)(expressions.parse)


def step(workflow: Workflow, index: int) -> Step | None:
    """The workflow's step `index` (a task's `step`), or None past its last."""
    if not 0 <= index < len(workflow.steps):
        return None
    raw = workflow.steps[index]
    text = raw.get("expression")
    return Step(
        queue=None if raw.get("voicemail") else raw["queue"],
        expression=_compiled(text) if text else None,
        timeout=raw.get("timeout"),
    )


async def escalating_to(session: AsyncSession, *, queue: TaskQueue) -> str | None:
    """The name of another queue whose workflow moves tasks into `queue`, if any."""
    rows = await session.execute(
        select(TaskQueue.name, Workflow.steps)
        .join(Workflow, Workflow.queue_id == TaskQueue.id)
        .where(TaskQueue.id != queue.id)
        .order_by(TaskQueue.name)
    )
    for name, steps in rows:
        if any(raw.get("queue") == queue.name for raw in steps):
            return name
    return None

"""Changes people make to routing, each recorded in the audit log in the same transaction:
admins' queues and workflows, supervisors' agent skills.

The API and the admin pages both change routing through here, so a change means the same
and leaves the same audit entry whichever way it was made. Services only flush.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.audit import service as audit
from callcenter.routing import agents, dispositions, queues, workflows
from callcenter.routing.models import Agent, Disposition, TaskQueue, Workflow


class QueueInUse(ValueError):
    """A queue that cannot be deleted now, and why."""

    def __init__(self, queue: TaskQueue, reason: str) -> None:
        self.reason = reason
        super().__init__(f"queue {queue.name!r} cannot be deleted: {reason}")


def _target(queue: TaskQueue) -> str:
    return f"queue:{queue.id}"


async def add_queue(
    session: AsyncSession, *, actor_id: int, name: str, fields: Mapping[str, Any]
) -> TaskQueue:
    """A new queue (QueueError names the field that cannot work)."""
    queue = await queues.create_queue(session, name=name, **fields)
    await audit.record(
        session, action="queue.created", actor_id=actor_id, target=_target(queue),
        details={"name": name, **fields},
    )
    return queue


async def change_queue(
    session: AsyncSession, *, actor_id: int, queue: TaskQueue, changes: Mapping[str, Any]
) -> None:
    """Change the queue's settings (only those that differ: nothing is logged for none)."""
    if not changes:
        return
    await queues.update_queue(session, queue=queue, **changes)
    await audit.record(
        session, action="queue.updated", actor_id=actor_id, target=_target(queue),
        details={"name": queue.name, **changes},
    )


async def why_undeletable(
    session: AsyncSession, *, queue: TaskQueue, flow_queues: Collection[str]
) -> str | None:
    """Why deleting `queue` now would strand callers, or None: the IVR flow (whose queue
    names are `flow_queues`) sends callers to it, tasks are in it, another queue overflows
    or escalates into it."""
    if queue.name in flow_queues:
        return "the IVR flow sends callers to it"
    if (reason := await queues.in_use(session, queue=queue)) is not None:
        return reason
    if (other := await workflows.escalating_to(session, queue=queue)) is not None:
        return f"the workflow of queue {other!r} escalates to it"
    return None


async def remove_queue(
    session: AsyncSession, *, actor_id: int, queue: TaskQueue, flow_queues: Collection[str]
) -> None:
    """Delete a queue nothing needs (its workflow goes with it), or QueueInUse saying why."""
    if (reason := await why_undeletable(session, queue=queue, flow_queues=flow_queues)):
        raise QueueInUse(queue, reason)
    await queues.delete_queue(session, queue=queue)
    await audit.record(
        session, action="queue.deleted", actor_id=actor_id, target=_target(queue),
        details={"name": queue.name},
    )


async def set_workflow(
    session: AsyncSession,
    *,
    actor_id: int,
    queue: TaskQueue,
    steps: Sequence[Mapping[str, Any]],
) -> Workflow:
    """Give the queue these steps (WorkflowError names the step that cannot work)."""
    workflow = await workflows.set_workflow(session, queue=queue, steps=steps)
    await audit.record(
        session, action="workflow.set", actor_id=actor_id, target=_target(queue),
        details={"name": queue.name, "steps": workflow.steps},
    )
    return workflow


async def remove_workflow(session: AsyncSession, *, actor_id: int, queue: TaskQueue) -> bool:
    """Take the queue's workflow away; False (and nothing logged) if it had none."""
    if not await workflows.delete_workflow(session, queue=queue):
        return False
    await audit.record(
        session, action="workflow.deleted", actor_id=actor_id, target=_target(queue),
        details={"name": queue.name},
    )
    return True


async def change_agent(
    session: AsyncSession,
    *,
    actor_id: int,
    agent: Agent,
    email: str,
    changes: Mapping[str, Any],
) -> None:
    """Change an agent's skills, languages or capacity (the queues that select them follow
    at once); nothing is logged when nothing differs."""
    if not changes:
        return
    await agents.update_profile(session, agent=agent, **changes)
    await audit.record(
        session, action="agent.updated", actor_id=actor_id, target=f"agent:{agent.id}",
        details={"email": email, **changes},
    )


async def add_disposition(session: AsyncSession, *, actor_id: int | None, name: str) -> Disposition:
    """Offer `name` at wrap-up (a retired one comes back)."""
    disposition = await dispositions.add(session, name=name)
    await audit.record(
        session, action="disposition.added", actor_id=actor_id,
        target=f"disposition:{disposition.id}", details={"name": name},
    )
    return disposition


async def retire_disposition(
    session: AsyncSession, *, actor_id: int, disposition: Disposition
) -> None:
    """No longer offered at wrap-up; calls given it keep it."""
    dispositions.retire(disposition)
    await audit.record(
        session, action="disposition.retired", actor_id=actor_id,
        target=f"disposition:{disposition.id}", details={"name": disposition.name},
    )

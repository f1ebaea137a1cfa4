"""Escalation: a waiting task moving through its queue's workflow, step by step.

A task that enters a queue with a workflow follows it: at step 0 only the agents the
step's narrower expression picks are offered it ("billing level 3 for 60 s"); past the
step's timeout it moves to the next step (another queue, a wider expression, or
voicemail), keeping its age, so it is still behind the callers who came before it.

A step's timeout is a worker job, so it fires on time whatever instance made the task;
the caller's wait loop checks it too, so escalation never depends on the worker alone.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from callcenter import jobs
from callcenter.db import transaction, utcnow
from callcenter.flows import Telephony, offers
from callcenter.routing import queues, tasks, workflows
from callcenter.routing.models import Task, TaskChannel, TaskQueue, TaskStatus

log = logging.getLogger("callcenter.flows")

ESCALATE = "routing.task.escalate"
VOICEMAIL = "voicemail"


async def follow(session: AsyncSession, tel: Telephony, *, task: Task, queue: TaskQueue) -> None:
    """A new task in `queue`: if the queue has a workflow, the task follows it from step 0
    (whose timeout is queued as a job)."""
    workflow = await workflows.get_workflow(session, queue_id=queue.id)
    if workflow is None:
        return
    task.workflow_id = workflow.id
    task.step = 0
    _schedule(session, tel, task=task, step=workflows.step(workflow, 0))


def _schedule(
    session: AsyncSession, tel: Telephony, *, task: Task, step: workflows.Step | None
) -> None:
    """Queue the timer of the step the task is at, counting from when it got there."""
    if step is not None and step.timeout is not None and tel.jobs is not None:
        spent = (utcnow() - task.step_started_at).total_seconds()
        tel.jobs.after_commit(
            session, ESCALATE, delay=max(0.0, step.timeout - spent), task_id=task.id,
            step=task.step,
        )


async def resume(session: AsyncSession, tel: Telephony, *, task: Task) -> None:
    """A task that took over another's place in a workflow (a callback for a caller who
    waited at a step) gets that step's timer, for the time the step has left."""
    if task.workflow_id is None:
        return
    workflow = await workflows.get_by_id(session, workflow_id=task.workflow_id)
    if workflow is not None:
        _schedule(session, tel, task=task, step=workflows.step(workflow, task.step))


async def escalate_if_due(session: AsyncSession, tel: Telephony, *, task: Task) -> str | None:
    """Move a pending task on while its step's timeout has passed. Returns "voicemail"
    when the workflow ends there (the caller is to leave the line), else None. A callback
    has no caller on the line to leave a message: at the end of the workflow it stays in
    its last queue until an agent takes it."""
    while task.status == TaskStatus.pending and task.workflow_id is not None:
        workflow = await workflows.get_by_id(session, workflow_id=task.workflow_id)
        step = workflows.step(workflow, task.step) if workflow is not None else None
        if step is None or step.timeout is None:
            return None
        if (utcnow() - task.step_started_at).total_seconds() < step.timeout:
            return None
        assert workflow is not None
        following = workflows.step(workflow, task.step + 1)
        ends = following is None or following.queue is None
        if ends and task.channel == TaskChannel.callback:
            return None
        task.step += 1
        log.info(
            "routing.task.escalated",
            extra={"task_id": task.id, "step": task.step, "to": following and following.queue},
        )
        if ends:
            return VOICEMAIL
        target = await queues.queue_named(session, name=following.queue)
        if target is None:  # deleted since: stay where it is rather than strand the caller
            return None
        await tasks.move(session, task=task, queue=target, reason=f"escalated to step {task.step}")
        _schedule(session, tel, task=task, step=following)
    return None


@jobs.job(ESCALATE)
async def step_timed_out(tel: Telephony, *, task_id: int, step: int) -> bool:
    """The worker's timer on a workflow step: move the task on if it still waits at that
    step, then offer it where it now is. True when it moved. A task being offered right
    now is looked at again a little later (a callback has no wait loop to do it)."""
    async with transaction(tel.sessionmaker) as session:
        task = await tasks.get_task(session, task_id=task_id, lock=True)
        if task is None or task.step != step:
            return False
        if task.status == TaskStatus.reserved and tel.jobs is not None:
            tel.jobs.after_commit(
                session, ESCALATE, delay=tel.agent_ring_seconds, task_id=task_id, step=step
            )
            return False
        if task.status != TaskStatus.pending:
            return False
        leaving = await escalate_if_due(session, tel, task=task)
        if leaving is not None:
            task.leaving = leaving
        moved = task.step != step
    if moved:
        await offers.dispatch(tel)
    return moved

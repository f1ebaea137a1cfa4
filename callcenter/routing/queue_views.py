"""The queues API: every queue's settings with its live figures, and its workflow.

Everyone signed in may read queues (an agent sees the lines they serve); only admins change
them. A setting that cannot work is refused with 422 and a message naming the field and
the reason (`expression: at 14: expected a quoted value after HAS`); every change is
recorded in the audit log in the same transaction.
"""

from __future__ import annotations

from quart import Blueprint
from quart_schema import tag_blueprint, validate_request, validate_response

from callcenter import api
from callcenter.accounts.auth import current_user, require_role
from callcenter.accounts.models import Role
from callcenter.errors import APIError
from callcenter.http.context import db, state
from callcenter.ivr.flow import queue_names
from callcenter.routing import edits, queues, workflows
from callcenter.routing.models import TaskQueue, Workflow
from callcenter.routing.schemas import (
    QueueIn,
    QueueList,
    QueueOut,
    QueuePatch,
    StepOut,
    WorkflowIn,
    WorkflowList,
    WorkflowOut,
)

bp = Blueprint("queues_api", __name__, url_prefix="/api")
tag_blueprint(bp, ["queues"])

# Plain `int` paths, with ids beyond api.ROW_ID_MAX answered 404 by the lookups.
QUEUE = "/queues/<int:queue_id>"
WORKFLOW = "/workflows/<int:workflow_id>"


def _out(queue: TaskQueue, counts: queues.Counts) -> QueueOut:
    return QueueOut(
        id=queue.id,
        name=queue.name,
        description=queue.description,
        expression=queue.expression,
        strategy=queue.strategy,
        max_size=queue.max_size,
        max_wait_seconds=queue.max_wait_seconds,
        overflow=queue.overflow,
        service_level_seconds=queue.service_level_seconds,
        wrapup_seconds=queue.wrapup_seconds,
        created_at=queue.created_at,
        waiting=counts.waiting,
        longest_wait_seconds=counts.longest_wait_seconds,
        agents=counts.agents,
        agents_staffing=counts.agents_staffing,
        agents_free=counts.agents_free,
    )


async def _one(queue: TaskQueue) -> QueueOut:
    return _out(queue, (await queues.counts(db()))[queue.id])


async def _queue(queue_id: int) -> TaskQueue:
    queue = await queues.get_queue(db(), queue_id=queue_id) if queue_id <= api.ROW_ID_MAX else None
    if queue is None:
        raise APIError(404, "not_found", "there is no such queue")
    return queue


def _actor_id() -> int:
    user = current_user()
    assert user is not None
    return user.id


def _refused(error: queues.QueueError | workflows.WorkflowError) -> APIError:
    """422 for a setting that cannot work; 409 for a name another queue has already."""
    if isinstance(error, queues.QueueError) and error.field == "name":
        return APIError(409, "name_taken", str(error))
    return APIError(422, "invalid_setting", str(error))


@bp.get("/queues")
@require_role(Role.agent)
@validate_response(QueueList, 200)
@validate_response(api.ErrorOut, 401)
async def list_queues() -> QueueList:
    """Every queue, by name: its settings, the callers waiting and the agents it selects."""
    counts = await queues.counts(db())
    return QueueList(items=[_out(q, counts[q.id]) for q in await queues.list_queues(db())])


@bp.get(QUEUE)
@require_role(Role.agent)
@validate_response(QueueOut, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 404)
async def read_queue(queue_id: int) -> QueueOut:
    """One queue's settings and live figures."""
    return await _one(await _queue(queue_id))


@bp.post("/queues")
@require_role(Role.admin)
@validate_request(QueueIn)
@validate_response(QueueOut, 201)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 409)
@validate_response(api.ErrorOut, 422)
async def create_queue(data: QueueIn) -> tuple[QueueOut, int]:
    """Add a queue; the agents its expression selects are in it at once. Admins only.
    409 when the name is taken; 422 names the field that cannot work: an expression that
    does not parse (with the position), an overflow into a queue that does not exist."""
    try:
        queue = await edits.add_queue(
            db(), actor_id=_actor_id(), name=data.name, fields=data.model_dump(exclude={"name"})
        )
    except queues.QueueError as error:
        raise _refused(error) from None
    return await _one(queue), 201


@bp.patch(QUEUE)
@require_role(Role.admin)
@validate_request(QueuePatch)
@validate_response(QueueOut, 200)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
@validate_response(api.ErrorOut, 422)
async def update_queue(queue_id: int, data: QueuePatch) -> QueueOut:
    """Change the settings sent (the rest stay); a new expression re-selects the queue's
    agents at once. Admins only."""
    queue = await _queue(queue_id)
    changes = data.changes(queue)
    try:
        await edits.change_queue(db(), actor_id=_actor_id(), queue=queue, changes=changes)
    except queues.QueueError as error:
        raise _refused(error) from None
    return await _one(queue)


@bp.delete(QUEUE)
@require_role(Role.admin)
@validate_response(QueueOut, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
@validate_response(api.ErrorOut, 409)
async def delete_queue(queue_id: int) -> QueueOut:
    """Delete a queue nobody needs, answering with it as it was: 409 says why not while
    the IVR flow sends callers to it, tasks are in it, or another queue overflows or
    escalates into it. Admins only."""
    queue = await _queue(queue_id)
    gone = await _one(queue)
    try:
        await edits.remove_queue(
            db(), actor_id=_actor_id(), queue=queue,
            flow_queues=queue_names(state().telephony.flow),
        )
    except edits.QueueInUse as error:
        raise APIError(409, "queue_in_use", str(error)) from None
    return gone


# --- workflows -------------------------------------------------------------------------------


async def _workflow_out(workflow: Workflow) -> WorkflowOut:
    queue = await queues.get_queue(db(), queue_id=workflow.queue_id)
    assert queue is not None
    return WorkflowOut(
        id=workflow.id,
        queue_id=queue.id,
        queue=queue.name,
        steps=[StepOut(**raw) for raw in workflow.steps],
        created_at=workflow.created_at,
    )


@bp.get("/workflows")
@require_role(Role.agent)
@validate_response(WorkflowList, 200)
@validate_response(api.ErrorOut, 401)
async def list_workflows() -> WorkflowList:
    """Every queue's escalation steps, by queue."""
    found = await workflows.list_workflows(db())
    return WorkflowList(items=[await _workflow_out(workflow) for workflow in found])


@bp.get(WORKFLOW)
@require_role(Role.agent)
@validate_response(WorkflowOut, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 404)
async def read_workflow(workflow_id: int) -> WorkflowOut:
    """One workflow's steps."""
    workflow = None
    if workflow_id <= api.ROW_ID_MAX:
        workflow = await workflows.get_by_id(db(), workflow_id=workflow_id)
    if workflow is None:
        raise APIError(404, "not_found", "there is no such workflow")
    return await _workflow_out(workflow)


@bp.put(QUEUE + "/workflow")
@require_role(Role.admin)
@validate_request(WorkflowIn)
@validate_response(WorkflowOut, 200)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
@validate_response(api.ErrorOut, 422)
async def set_workflow(queue_id: int, data: WorkflowIn) -> WorkflowOut:
    """Give the queue these escalation steps, replacing any it had. Admins only. 422 names
    the step (`steps[1]: expression: at 14: ...`) that routing could not follow."""
    queue = await _queue(queue_id)
    steps = [step.model_dump(exclude_none=True) for step in data.steps]
    try:
        workflow = await edits.set_workflow(db(), actor_id=_actor_id(), queue=queue, steps=steps)
    except workflows.WorkflowError as error:
        raise _refused(error) from None
    return await _workflow_out(workflow)


@bp.delete(QUEUE + "/workflow")
@require_role(Role.admin)
@validate_response(WorkflowOut, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
async def delete_workflow(queue_id: int) -> WorkflowOut:
    """Take the queue's workflow away, answering with it as it was: the queue's callers
    wait in it alone from now. Admins only."""
    queue = await _queue(queue_id)
    workflow = await workflows.get_workflow(db(), queue_id=queue.id)
    if workflow is None:
        raise APIError(404, "not_found", f"queue {queue.name!r} has no workflow")
    gone = await _workflow_out(workflow)
    await edits.remove_workflow(db(), actor_id=_actor_id(), queue=queue)
    return gone

"""The tasks API: what waits to be routed, in line order, for supervisors watching the queues."""

from __future__ import annotations

from quart import Blueprint
from quart_schema import tag_blueprint, validate_querystring, validate_response

from callcenter import api
from callcenter.accounts.auth import require_role
from callcenter.accounts.models import Role
from callcenter.db import utcnow
from callcenter.errors import APIError
from callcenter.http.context import db
from callcenter.routing import queues, tasks
from callcenter.routing.schemas import TaskList, TaskOut, TaskQuery

bp = Blueprint("tasks_api", __name__, url_prefix="/api/tasks")
tag_blueprint(bp, ["tasks"])


@bp.get("")
@require_role(Role.supervisor)
@validate_querystring(TaskQuery)
@validate_response(TaskList, 200)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
async def list_tasks(query_args: TaskQuery) -> TaskList:
    """The tasks waiting for an agent (all queues, or `?queue=name`), each queue's line in
    the order agents will get them: highest priority first, then the longest waiting."""
    names = {queue.id: queue.name for queue in await queues.list_queues(db())}
    queue_id = None
    if query_args.queue is not None:
        queue = await queues.queue_named(db(), name=query_args.queue)
        if queue is None:
            raise APIError(404, "not_found", f"there is no queue named {query_args.queue!r}")
        queue_id = queue.id
    now = utcnow()
    items = []
    for task in await tasks.list_waiting(db(), queue_id=queue_id):
        items.append(
            TaskOut(
                id=task.id,
                channel=task.channel,
                status=task.status,
                queue=names.get(task.queue_id),
                priority=task.priority,
                entered_at=task.entered_at,
                age_seconds=max(0, round((now - task.entered_at).total_seconds())),
                position=await tasks.position(db(), task=task),
                attributes=task.attributes or {},
                call_id=task.call_id,
            )
        )
    return TaskList(items=items)

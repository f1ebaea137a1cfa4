"""The routing pages: queues and their workflows for admins, agents' skills for supervisors.

Every change is a POST with the form's CSRF token, checked by the API's own schemas and
services, recorded in the audit log, then a redirect back (POST-redirect-GET). A refused
form comes back filled in as it was sent, with the reason on top, so a long expression
with a typo at character 40 is fixed, not typed again.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationError
from quart import Blueprint, flash, redirect, render_template, request, session, url_for
from quart_schema import hide
from werkzeug.wrappers import Response as WerkzeugResponse

from callcenter.accounts import service as accounts
from callcenter.accounts.auth import current_user, require_role
from callcenter.accounts.models import Role
from callcenter.api import FORM
from callcenter.errors import APIError
from callcenter.http.context import db, state
from callcenter.ivr.flow import queue_names
from callcenter.routing import agents, edits, queues, workflows
from callcenter.routing.models import Agent, Strategy, TaskQueue, Workflow
from callcenter.routing.schemas import AgentPatch, QueueIn, QueuePatch

bp = Blueprint("routing_admin", __name__)

QUEUE = "/admin/queues/<int(max=2147483647):queue_id>"
AGENT = "/admin/agents/<int(max=2147483647):agent_id>"
QUEUES = "routing_admin.queues_page"
AGENTS = "routing_admin.agents_page"
# What the forms call each setting; refusals name the field the way the form does.
LABELS = {
    "name": "Name",
    "description": "Description",
    "expression": "Expression",
    "strategy": "Strategy",
    "max_size": "Max callers waiting",
    "max_wait_seconds": "Max wait (seconds)",
    "overflow": "Overflow",
    "service_level_seconds": "Service level (seconds)",
    "wrapup_seconds": "Wrap-up (seconds)",
    "skills": "Skills",
    "languages": "Languages",
}
# Left blank on the form, these mean "none" (no limit, no overflow), not an empty text.
_BLANK_IS_NONE = {"max_size", "max_wait_seconds", "overflow"}
# The session key a refused form is kept under until the page shows it again, and how many
# characters of it are kept at most.
_REFUSED = "routing_refused_form"
_KEPT_AT_MOST = 2000


def _actor_id() -> int:
    user = current_user()
    assert user is not None
    return user.id


def _why(error: ValidationError) -> str:
    """The first problem pydantic found, named as the form names the field."""
    first = error.errors()[0]
    location = [str(part) for part in first["loc"]]
    field = LABELS.get(location[0], location[0]) if location else "form"
    detail = " ".join(location[1:])
    return f"{field}{' ' + detail if detail else ''}: {first['msg']}"


def _model(schema: type[BaseModel], form: dict[str, str]) -> Any:
    """The form's fields as the API's schema reads them (ValidationError if it refuses)."""
    values: dict[str, Any] = {}
    for name in schema.model_fields:
        if name not in form:
            continue
        value = form[name].strip()
        values[name] = None if name in _BLANK_IS_NONE and not value else value
    return schema.model_validate(values, context=FORM)


async def _refuse(form_id: str, message: str, *, page: str = QUEUES) -> WerkzeugResponse:
    """Back to the page with the reason, keeping what was typed in the form `form_id`
    (in the session cookie, so only while it stays well under a cookie's 4 KB)."""
    typed = {key: value for key, value in (await request.form).items() if key != "csrf_token"}
    if sum(len(value) for value in typed.values()) <= _KEPT_AT_MOST:
        session[_REFUSED] = {"form": form_id, "values": typed}
    await flash(message, "error")
    return _back(form_id, page=page)


def _back(anchor: str = "", *, page: str = QUEUES) -> WerkzeugResponse:
    """303 to the page (at the form just sent), so a reload never sends the form again."""
    return redirect(url_for(page) + (f"#{anchor}" if anchor else ""), 303)


async def _queue(queue_id: int) -> TaskQueue:
    queue = await queues.get_queue(db(), queue_id=queue_id)
    if queue is None:
        raise APIError(404, "not_found", "there is no such queue")
    return queue


# --- queues ----------------------------------------------------------------------------------


def steps_text(workflow: Workflow | None) -> str:
    """A workflow as the editor shows it: one step a line, `queue | expression | timeout`."""
    if workflow is None:
        return ""
    lines = []
    for raw in workflow.steps:
        if raw.get("voicemail"):
            lines.append(queues.VOICEMAIL)
            continue
        parts = [raw["queue"]]
        if "expression" in raw:
            parts.append(raw["expression"])
        if "timeout" in raw:
            parts.append(str(raw["timeout"]))
        lines.append(" | ".join(parts))
    return "\n".join(lines)


_WHOLE_NUMBER = re.compile(r"\d+")


def parse_steps(text: str) -> list[dict[str, Any]]:
    """The editor's lines as the steps `workflows.set_workflow` checks.

    `queue | expression | timeout`: the first part names the queue, a last part that is a
    whole number is the timeout, and what lies between is the expression (which may hold
    `||` itself); `voicemail` alone ends the workflow in voicemail."""
    steps: list[dict[str, Any]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.strip().lower() == queues.VOICEMAIL:
            steps.append({"voicemail": True})
            continue
        name, _, rest = line.partition("|")
        step: dict[str, Any] = {"queue": name.strip()}
        head, _, tail = rest.rpartition("|")
        if _WHOLE_NUMBER.fullmatch(tail.strip()):
            step["timeout"] = int(tail.strip())
            rest = head
        if rest.strip():
            step["expression"] = rest.strip()
        steps.append(step)
    return steps


@bp.get("/admin/queues")
@hide
@require_role(Role.admin)
async def queues_page() -> str:
    found = await queues.list_queues(db())
    by_queue = {workflow.queue_id: workflow for workflow in await workflows.list_workflows(db())}
    return await render_template(
        "routing/queues.html",
        queues=found,
        counts=await queues.counts(db()),
        steps={queue.id: steps_text(by_queue.get(queue.id)) for queue in found},
        strategies=list(Strategy),
        labels=LABELS,
        refused=session.pop(_REFUSED, None),
    )


@bp.post("/admin/queues")
@hide
@require_role(Role.admin)
async def add_queue() -> WerkzeugResponse:
    form = dict(await request.form)
    try:
        data: QueueIn = _model(QueueIn, form)
    except ValidationError as error:
        return await _refuse("add", f"Queue not added: {_why(error)}")
    try:
        queue = await edits.add_queue(
            db(), actor_id=_actor_id(), name=data.name, fields=data.model_dump(exclude={"name"})
        )
    except queues.QueueError as error:
        return await _refuse("add", f"Queue not added: {_labelled(error)}")
    await flash(f"Added queue {queue.name}.", "done")
    return _back(f"queue-{queue.id}")


def _labelled(error: queues.QueueError) -> str:
    return f"{LABELS.get(error.field, error.field)}: {error.reason}"


@bp.post(QUEUE)
@hide
@require_role(Role.admin)
async def edit_queue(queue_id: int) -> WerkzeugResponse:
    queue = await _queue(queue_id)
    form_id = f"queue-{queue.id}"
    try:
        data: QueuePatch = _model(QueuePatch, dict(await request.form))
        changes = data.changes(queue)
        await edits.change_queue(db(), actor_id=_actor_id(), queue=queue, changes=changes)
    except ValidationError as error:
        return await _refuse(form_id, f"{queue.name} not saved: {_why(error)}")
    except queues.QueueError as error:
        return await _refuse(form_id, f"{queue.name} not saved: {_labelled(error)}")
    if changes:
        await flash(f"Saved {queue.name}: {', '.join(LABELS[key] for key in changes)}.", "done")
    else:
        await flash(f"{queue.name}: nothing to change.", "done")
    return _back(form_id)


@bp.post(QUEUE + "/delete")
@hide
@require_role(Role.admin)
async def delete_queue(queue_id: int) -> WerkzeugResponse:
    queue = await _queue(queue_id)
    try:
        await edits.remove_queue(
            db(), actor_id=_actor_id(), queue=queue,
            flow_queues=queue_names(state().telephony.flow),
        )
    except edits.QueueInUse as error:
        await flash(f"{queue.name} cannot be deleted: {error.reason}.", "error")
        return _back(f"queue-{queue.id}")
    await flash(f"Deleted queue {queue.name}.", "done")
    return _back()


@bp.post(QUEUE + "/workflow")
@hide
@require_role(Role.admin)
async def save_workflow(queue_id: int) -> WerkzeugResponse:
    queue = await _queue(queue_id)
    form_id = f"workflow-{queue.id}"
    steps = parse_steps((await request.form).get("steps", ""))
    if not steps:  # an empty editor: the queue's callers wait in it alone
        if await edits.remove_workflow(db(), actor_id=_actor_id(), queue=queue):
            await flash(f"Removed the workflow of {queue.name}.", "done")
        else:
            await flash(f"{queue.name} has no workflow.", "done")
        return _back(form_id)
    try:
        workflow = await edits.set_workflow(db(), actor_id=_actor_id(), queue=queue, steps=steps)
    except workflows.WorkflowError as error:
        where = "" if error.step is None else f"step {error.step + 1}: "
        return await _refuse(form_id, f"Workflow of {queue.name} not saved: {where}{error.reason}")
    await flash(f"Saved the workflow of {queue.name}: {len(workflow.steps)} step(s).", "done")
    return _back(form_id)


# --- agents ----------------------------------------------------------------------------------


def skills_text(agent: Agent) -> str:
    """An agent's skills as the form shows them: `billing=3, support=1`."""
    return ", ".join(f"{name}={level}" for name, level in sorted((agent.skills or {}).items()))


def parse_skills(text: str) -> dict[str, str]:
    """`billing=3, support=1` (or `billing:3`) as name -> level, for AgentPatch to check: a
    name without a level keeps an empty one, so the refusal says the level is missing."""
    skills = {}
    for item in re.split(r"[,\n]", text):
        if item.strip():
            name, _, level = item.replace(":", "=", 1).partition("=")
            skills[name.strip().lower()] = level.strip()
    return skills


def parse_languages(text: str) -> list[str]:
    """`en, ru` (commas or spaces) as the codes AgentPatch checks."""
    return [code.lower() for code in re.split(r"[,\s]+", text) if code]


@bp.get("/admin/agents")
@hide
@require_role(Role.supervisor)
async def agents_page() -> str:
    rows = await agents.list_agents(db())
    member = await queues.memberships(db(), agent_ids=[agent.id for agent, _user in rows])
    return await render_template(
        "routing/agents.html",
        rows=[(agent, user, member.get(agent.id, [])) for agent, user in rows],
        skills_text=skills_text,
        refused=session.pop(_REFUSED, None),
    )


@bp.post(AGENT)
@hide
@require_role(Role.supervisor)
async def edit_agent(agent_id: int) -> WerkzeugResponse:
    agent = await agents.get_agent(db(), agent_id=agent_id)
    if agent is None:
        raise APIError(404, "not_found", "there is no such agent")
    user = await accounts.get(db(), user_id=agent.user_id)
    assert user is not None
    form = await request.form
    form_id = f"agent-{agent.id}"
    try:
        data = AgentPatch.model_validate(
            {
                "skills": parse_skills(form.get("skills", "")),
                "languages": parse_languages(form.get("languages", "")),
            },
            context=FORM,
        )
    except ValidationError as error:
        return await _refuse(form_id, f"{user.email} not saved: {_why(error)}", page=AGENTS)
    await edits.change_agent(
        db(), actor_id=_actor_id(), agent=agent, email=user.email, changes=data.changes(agent)
    )
    queues_now = await queues.queues_of(db(), agent_id=agent.id)
    await flash(f"Saved {user.email}: in {', '.join(queues_now) or 'no queue'}.", "done")
    return _back(form_id, page=AGENTS)

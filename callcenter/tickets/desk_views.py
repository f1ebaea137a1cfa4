"""The help desk's rules for admins: triggers, SLA policies, the thread window and groups,
through the API (`/api/triggers`, `/api/sla-policies`, `/api/desk-settings`,
`/api/groups`) and the page `/admin/desk`. Agents may read the groups (to assign tickets)."""

from __future__ import annotations

from quart import Blueprint, render_template
from quart_schema import hide, tag_blueprint, validate_request, validate_response

from callcenter import api
from callcenter.accounts.auth import current_user, require_role
from callcenter.accounts.models import Role
from callcenter.errors import APIError, refusing
from callcenter.http.context import db
from callcenter.tickets import desk
from callcenter.tickets import service as tickets
from callcenter.tickets.models import TicketGroup, TicketPriority, Trigger
from callcenter.tickets.schemas import (
    DeskSettingsIn,
    DeskSettingsOut,
    GroupIn,
    GroupList,
    GroupOut,
    SlaPolicyIn,
    SlaPolicyList,
    SlaPolicyOut,
    TriggerIn,
    TriggerList,
    TriggerOut,
    TriggerPatch,
)

bp = Blueprint("desk", __name__)
tag_blueprint(bp, ["help desk rules"])


def _actor_id() -> int | None:
    user = current_user()
    return user.id if user is not None else None



def _trigger_out(trigger: Trigger) -> TriggerOut:
    return TriggerOut.model_validate(trigger, from_attributes=True)


async def _trigger_or_404(trigger_id: int) -> Trigger:
    return await api.found(lambda i: desk.get_trigger(db(), trigger_id=i), trigger_id, "trigger")


async def _group_or_404(group_id: int) -> TicketGroup:
    return await api.found(lambda i: tickets.get_group(db(), group_id=i), group_id, "group")


@bp.get("/api/triggers")
@require_role(Role.admin)
@validate_response(TriggerList, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
async def list_triggers() -> TriggerList:
    """Every trigger, in the order they run."""
    return TriggerList(items=[_trigger_out(t) for t in await desk.list_triggers(db())])


@bp.post("/api/triggers")
@require_role(Role.admin)
@validate_request(TriggerIn)
@validate_response(TriggerOut, 201)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 422)
async def create_trigger(data: TriggerIn) -> tuple[TriggerOut, int]:
    """A new trigger, active at once. Audited."""
    with refusing(desk.DeskError):
        made = await desk.create_trigger(
            db(), name=data.name, conditions=data.conditions, steps=data.actions,
            on_create=data.on_create, on_update=data.on_update, position=data.position,
            actor_id=_actor_id(),
        )
    return _trigger_out(made), 201


@bp.patch("/api/triggers/<int:trigger_id>")
@require_role(Role.admin)
@validate_request(TriggerPatch)
@validate_response(TriggerOut, 200)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
@validate_response(api.ErrorOut, 422)
async def change_trigger(trigger_id: int, data: TriggerPatch) -> TriggerOut:
    """Change, turn off (`active: false`) or on, or reorder a trigger. Audited."""
    found = await _trigger_or_404(trigger_id)
    with refusing(desk.DeskError):
        await desk.change_trigger(
            db(), trigger=found, actor_id=_actor_id(), **data.model_dump(exclude_unset=True)
        )
    return _trigger_out(found)


@bp.delete("/api/triggers/<int:trigger_id>")
@require_role(Role.admin)
@validate_response(TriggerOut, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
async def remove_trigger(trigger_id: int) -> TriggerOut:
    """The trigger goes (the audit log keeps it). Answers what it was."""
    found = await _trigger_or_404(trigger_id)
    out = _trigger_out(found)
    await desk.remove_trigger(db(), trigger=found, actor_id=_actor_id())
    return out


def _policy_out(policy: object) -> SlaPolicyOut:
    return SlaPolicyOut.model_validate(policy, from_attributes=True)


@bp.get("/api/sla-policies")
@require_role(Role.admin)
@validate_response(SlaPolicyList, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
async def list_policies() -> SlaPolicyList:
    """Each priority's SLA targets, most urgent first."""
    return SlaPolicyList(items=[_policy_out(p) for p in await desk.policies(db())])


@bp.put("/api/sla-policies/<priority>")
@require_role(Role.admin)
@validate_request(SlaPolicyIn)
@validate_response(SlaPolicyOut, 200)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
@validate_response(api.ErrorOut, 422)
async def set_policy(priority: str, data: SlaPolicyIn) -> SlaPolicyOut:
    """Set a priority's targets and hours (low, normal, high or urgent). Tickets already
    open keep their due times; what happens to them next uses the new policy. Audited."""
    try:
        level = TicketPriority(priority)
    except ValueError:
        raise APIError(404, "not_found", "Priorities are low, normal, high and urgent.") from None
    with refusing(desk.DeskError):
        policy = await desk.set_policy(
            db(), priority=level, first_reply_minutes=data.first_reply_minutes,
            next_reply_minutes=data.next_reply_minutes,
            resolution_minutes=data.resolution_minutes, hours=data.hours, zone=data.zone,
            actor_id=_actor_id(),
        )
    return _policy_out(policy)


@bp.get("/api/desk-settings")
@require_role(Role.admin)
@validate_response(DeskSettingsOut, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
async def get_settings() -> DeskSettingsOut:
    found = await tickets.desk_settings(db())
    return DeskSettingsOut(thread_window_hours=found.thread_window_hours)


@bp.put("/api/desk-settings")
@require_role(Role.admin)
@validate_request(DeskSettingsIn)
@validate_response(DeskSettingsOut, 200)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 422)
async def put_settings(data: DeskSettingsIn) -> DeskSettingsOut:
    """The thread window: how recently a customer's open ticket must have been updated for
    their new contact to join it. Audited."""
    with refusing(desk.DeskError):
        hours = await desk.set_thread_window(
            db(), hours=data.thread_window_hours, actor_id=_actor_id()
        )
    return DeskSettingsOut(thread_window_hours=hours)


@bp.get("/api/groups")
@require_role(Role.agent)
@validate_response(GroupList, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
async def list_groups() -> GroupList:
    """The groups tickets can be given to."""
    return GroupList(items=[
        GroupOut(id=g.id, name=g.name, email=g.email) for g in await tickets.list_groups(db())
    ])


@bp.post("/api/groups")
@require_role(Role.admin)
@validate_request(GroupIn)
@validate_response(GroupOut, 201)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 422)
async def add_group(data: GroupIn) -> tuple[GroupOut, int]:
    with refusing(desk.DeskError):
        group = await desk.add_group(db(), name=data.name, actor_id=_actor_id())
        if data.email:
            await desk.set_group_address(db(), group=group, email=data.email, actor_id=_actor_id())
    return GroupOut(id=group.id, name=group.name, email=group.email), 201


@bp.patch("/api/groups/<int:group_id>")
@require_role(Role.admin)
@validate_request(GroupIn)
@validate_response(GroupOut, 200)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
@validate_response(api.ErrorOut, 422)
async def rename_group(group_id: int, data: GroupIn) -> GroupOut:
    """Rename a group (its tickets stay, and macros and triggers naming it follow), and
    change its address when `email` is sent."""
    group = await _group_or_404(group_id)
    with refusing(desk.DeskError):
        await desk.rename_group(db(), group=group, name=data.name, actor_id=_actor_id())
        if "email" in data.model_fields_set:
            await desk.set_group_address(db(), group=group, email=data.email, actor_id=_actor_id())
    return GroupOut(id=group.id, name=group.name, email=group.email)


@bp.get("/admin/desk")
@hide
@require_role(Role.admin)
async def desk_page() -> str:
    return await render_template(
        "tickets/desk.html", triggers=await desk.list_triggers(db()),
        policies=await desk.policies(db()), groups=await tickets.list_groups(db()),
        settings=await tickets.desk_settings(db()),
    )

"""The agents API: an agent sets their own activity; supervisors see everyone's."""

from __future__ import annotations

from quart import Blueprint
from quart_schema import tag_blueprint, validate_request, validate_response

from callcenter import api
from callcenter.accounts.auth import current_user, require_role
from callcenter.accounts.models import Role, User
from callcenter.errors import APIError
from callcenter.flows import offers
from callcenter.http.context import after_commit, db, state
from callcenter.routing import service as routing
from callcenter.routing.models import Activity, Agent
from callcenter.routing.schemas import ActivityIn, AgentList, AgentOut

# `require_role` comes first (outermost) on every route: a caller who may not use a route
# gets 401/403 before anything else runs, never the request schema's validation details.
# It keeps quart-schema's OpenAPI metadata, which `functools.wraps` copies along.
bp = Blueprint("routing_api", __name__, url_prefix="/api/agents")
tag_blueprint(bp, ["agents"])


def _out(agent: Agent, user: User) -> AgentOut:
    return AgentOut(
        id=agent.id,
        user_id=user.id,
        email=user.email,
        client_identity=agent.client_identity,
        activity=agent.activity,
        activity_changed_at=agent.activity_changed_at,
        idle_since=agent.idle_since,
    )


@bp.get("/me")
@require_role(Role.agent)
@validate_response(AgentOut, 200)
@validate_response(api.ErrorOut, 401)
async def read_my_agent() -> AgentOut:
    """The signed-in user's agent profile: softphone identity and current activity."""
    user = current_user()
    assert user is not None
    return _out(await routing.agent_for_user(db(), user=user), user)


@bp.put("/me/activity")
@require_role(Role.agent)
@validate_request(ActivityIn)
@validate_response(AgentOut, 200)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 409)
async def set_my_activity(data: ActivityIn) -> AgentOut:
    """Go available, away or offline. Going available may bring a waiting call at once."""
    user = current_user()
    assert user is not None
    agent = await routing.agent_for_user(db(), user=user)
    try:
        await routing.set_activity(db(), agent=agent, activity=data.activity)
    except routing.ActivityConflict as conflict:
        raise APIError(409, "on_a_call", str(conflict)) from None
    if data.activity == Activity.available:
        after_commit(offers.dispatch, state().telephony)
    return _out(agent, user)


@bp.get("")
@require_role(Role.supervisor)
@validate_response(AgentList, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
async def list_agents() -> AgentList:
    """Every agent and what they are doing now. Supervisors and admins."""
    rows = await routing.list_agents(db())
    return AgentList(items=[_out(agent, user) for agent, user in rows])

"""The agents API: an agent sets their own activity; supervisors see everyone's."""

from __future__ import annotations

from quart import Blueprint
from quart_schema import tag_blueprint, validate_request, validate_response

from callcenter import api
from callcenter.accounts.auth import current_user, require_role
from callcenter.accounts.models import Role, User
from callcenter.flows import offers
from callcenter.http.context import after_commit, db, state
from callcenter.routing import agents, queues
from callcenter.routing.models import Activity, Agent
from callcenter.routing.schemas import ActivityIn, AgentList, AgentOut

# `require_role` comes first (outermost) on every route: a caller who may not use a route
# gets 401/403 before anything else runs, never the request schema's validation details.
# It keeps quart-schema's OpenAPI metadata, which `functools.wraps` copies along.
bp = Blueprint("routing_api", __name__, url_prefix="/api/agents")
tag_blueprint(bp, ["agents"])


async def _out(agent: Agent, user: User) -> AgentOut:
    return AgentOut(
        id=agent.id,
        user_id=user.id,
        email=user.email,
        client_identity=agent.client_identity,
        activity=agent.activity,
        break_reason=agent.break_reason,
        activity_changed_at=agent.activity_changed_at,
        routing_state=agent.routing_state,
        routing_state_changed_at=agent.routing_state_changed_at,
        wrapup_until=agent.wrapup_until,
        idle_since=agent.idle_since,
        skills=agent.skills or {},
        languages=agent.languages or [],
        capacity=agent.capacity or {},
        missed_offers=agent.missed_offers,
        queues=await queues.queues_of(db(), agent_id=agent.id),
    )


@bp.get("/me")
@require_role(Role.agent)
@validate_response(AgentOut, 200)
@validate_response(api.ErrorOut, 401)
async def read_my_agent() -> AgentOut:
    """The signed-in user's agent profile: softphone identity and current activity."""
    user = current_user()
    assert user is not None
    return await _out(await agents.agent_for_user(db(), user=user), user)


@bp.put("/me/activity")
@require_role(Role.agent)
@validate_request(ActivityIn)
@validate_response(AgentOut, 200)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
async def set_my_activity(data: ActivityIn) -> AgentOut:
    """Go available, on a break (with a reason) or offline. Never interrupts a call: an
    agent who leaves during one finishes it and is offered nothing more. Going available
    may bring a waiting call at once."""
    user = current_user()
    assert user is not None
    agent = await agents.agent_for_user(db(), user=user)
    await agents.set_activity(db(), agent=agent, activity=data.activity, reason=data.reason)
    if data.activity == Activity.available:
        after_commit(offers.dispatch, state().telephony)
    return await _out(agent, user)


@bp.get("")
@require_role(Role.supervisor)
@validate_response(AgentList, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
async def list_agents() -> AgentList:
    """Every agent and what they are doing now. Supervisors and admins."""
    rows = await agents.list_agents(db())
    return AgentList(items=[await _out(agent, user) for agent, user in rows])

"""The agents API: an agent sets their own activity, ends their wrap-up and keeps their
softphone page known to be alive; supervisors see everyone, edit skills and read the log."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from quart import Blueprint
from quart_schema import (
    tag_blueprint,
    validate_querystring,
    validate_request,
    validate_response,
)

from callcenter import api
from callcenter.accounts import service as accounts
from callcenter.accounts.auth import current_user, require_role
from callcenter.accounts.models import Role, User
from callcenter.db import utcnow
from callcenter.errors import APIError
from callcenter.flows import monitoring, offers, transfers, work
from callcenter.http.context import after_commit, db, release, settings, state
from callcenter.routing import agents, edits, queues, state_log
from callcenter.routing.models import CHAT_CAPACITY, Activity, Agent
from callcenter.routing.schemas import (
    ActivityIn,
    AgentList,
    AgentOut,
    AgentPatch,
    HeartbeatOut,
    HoldIn,
    LogQuery,
    MonitorIn,
    MonitorOut,
    MyWorkOut,
    StateLogList,
    StateLogOut,
    TransferAgentOut,
    TransferIn,
    TransferQueueOut,
    TransferTargetsOut,
    VoiceTokenOut,
    WrapUpIn,
    WrapUpOut,
    my_work,
)
from callcenter.telephony import tokens

# `require_role` comes first (outermost) on every route: a caller who may not use a route
# gets 401/403 before anything else runs, never the request schema's validation details.
# It keeps quart-schema's OpenAPI metadata, which `functools.wraps` copies along.
bp = Blueprint("routing_api", __name__, url_prefix="/api/agents")
tag_blueprint(bp, ["agents"])

# Ids beyond an integer column are no row of ours: 404, not an overflow in the database.
AGENT = "/<int(max=2147483647):agent_id>"


async def _out(agent: Agent, user: User, in_queues: list[str] | None = None) -> AgentOut:
    if in_queues is None:
        in_queues = await queues.queues_of(db(), agent_id=agent.id)
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
        capacity={"voice": 1, "chat": CHAT_CAPACITY, **(agent.capacity or {})},
        missed_offers=agent.missed_offers,
        queues=in_queues,
    )


async def _mine() -> tuple[Agent, User]:
    """The signed-in user's agent profile (made on first use) and the user."""
    user = current_user()
    assert user is not None
    return await agents.agent_for_user(db(), user=user), user


@bp.get("/me")
@require_role(Role.agent)
@validate_response(AgentOut, 200)
@validate_response(api.ErrorOut, 401)
async def read_my_agent() -> AgentOut:
    """The signed-in user's agent profile: softphone identity and current activity."""
    return await _out(*await _mine())


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
    agent, user = await _mine()
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
    member = await queues.memberships(db(), agent_ids=[agent.id for agent, _user in rows])
    return AgentList(
        items=[await _out(agent, user, member.get(agent.id, [])) for agent, user in rows]
    )


@bp.post("/me/wrap-up/end")
@require_role(Role.agent)
@validate_response(AgentOut, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 409)
async def end_my_wrapup() -> AgentOut:
    """Done wrapping up before the queue's wrap-up time is over: idle now, and a waiting
    call may come at once. 409 when not in wrap-up."""
    agent, user = await _mine()
    if not await offers.end_wrapup(db(), agent_id=agent.id):
        raise APIError(409, "not_in_wrapup", "you are not in wrap-up")
    after_commit(offers.dispatch, state().telephony)
    await db().refresh(agent)
    return await _out(agent, user)


@bp.post("/me/heartbeat")
@require_role(Role.agent)
@validate_response(HeartbeatOut, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
async def heartbeat() -> HeartbeatOut:
    """The softphone page is open and alive: an agent whose page falls silent is set
    offline, so callers do not ring a phone nobody is at. The answer carries the agent's
    activity and routing state, so the page notices a change it missed (a break for
    missed offers)."""
    agent, _ = await _mine()
    await agents.heartbeat(db(), agent=agent)
    return HeartbeatOut.model_validate(agent, from_attributes=True)


@bp.get("/me/work")
@require_role(Role.agent)
@validate_response(MyWorkOut, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
async def read_my_work() -> MyWorkOut:
    """The call ringing for the agent, being talked through or wrapped up: its caller and
    customer, the ticket it lands on and the customer's last five other tickets."""
    agent, _ = await _mine()
    return my_work(await work.current(db(), state().telephony, agent=agent))


async def _change_my_work(
    step: Callable[..., Awaitable[work.Work | None]], **how: Any
) -> MyWorkOut:
    """Run a flow that changes the signed-in agent's call around a REST call to Twilio (in
    transactions of its own, so the request's connection is given back first); their work
    as it is then."""
    agent, _ = await _mine()
    await release()
    return my_work(await step(state().telephony, agent_id=agent.id, **how))


@bp.put("/me/work/hold")
@require_role(Role.agent)
@validate_request(HoldIn)
@validate_response(MyWorkOut, 200)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 409)
@validate_response(api.ErrorOut, 502)
async def hold_my_call(data: HoldIn) -> MyWorkOut:
    """Put the caller on hold (they hear hold music) or take them off it. 409 when not
    talking to a caller; 502 when Twilio refused."""
    return await _change_my_work(work.hold, on=data.hold)


@bp.post("/me/work/hangup")
@require_role(Role.agent)
@validate_response(MyWorkOut, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 409)
@validate_response(api.ErrorOut, 502)
async def hang_up_my_call() -> MyWorkOut:
    """End the agent's answered call through Twilio (the softphone hangs up its own leg
    when it can; this is for a page that lost it). 409 when not on a call."""
    return await _change_my_work(work.hang_up)


@bp.get("/me/work/transfer-targets")
@require_role(Role.agent)
@validate_response(TransferTargetsOut, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
async def my_transfer_targets() -> TransferTargetsOut:
    """The colleagues (free ones can take a call now) and queues a call can go to."""
    agent, _ = await _mine()
    now = utcnow()
    return TransferTargetsOut(
        agents=[
            TransferAgentOut(id=other.id, name=user.name or user.email, free=other.is_free(now))
            for other, user in await agents.list_agents(db()) if other.id != agent.id
        ],
        queues=[TransferQueueOut(id=q.id, name=q.name) for q in await queues.list_queues(db())],
    )


@bp.post("/me/work/transfer")
@require_role(Role.agent)
@validate_request(TransferIn)
@validate_response(MyWorkOut, 200)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
@validate_response(api.ErrorOut, 409)
@validate_response(api.ErrorOut, 502)
async def transfer_my_call(data: TransferIn) -> MyWorkOut:
    """Transfer the caller to a colleague or a queue. Cold: you leave at once and the
    caller holds until the next agent answers. Warm (to a colleague): you both talk with
    the caller on hold, then complete or cancel. 409 when not talking to a caller, the
    colleague is not free, or a transfer is under way."""
    target = transfers.Target(agent_id=data.agent_id, queue_id=data.queue_id)
    return await _change_my_work(transfers.start, target=target, warm=data.warm)


@bp.post("/me/work/transfer/complete")
@require_role(Role.agent)
@validate_response(MyWorkOut, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 409)
@validate_response(api.ErrorOut, 502)
async def complete_my_transfer() -> MyWorkOut:
    """Hand the caller to the colleague you consulted (they must have answered): you
    leave the call, and the caller comes off hold with them."""
    return await _change_my_work(transfers.complete)


@bp.post("/me/work/transfer/cancel")
@require_role(Role.agent)
@validate_response(MyWorkOut, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 409)
@validate_response(api.ErrorOut, 502)
async def cancel_my_transfer() -> MyWorkOut:
    """Call the consultation off: the colleague leaves (or stops ringing) and the caller
    comes back to you, off hold."""
    return await _change_my_work(transfers.cancel)


@bp.post("/me/work/wrap-up")
@require_role(Role.agent)
@validate_request(WrapUpIn)
@validate_response(WrapUpOut, 200)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
@validate_response(api.ErrorOut, 409)
async def save_my_wrapup(data: WrapUpIn) -> WrapUpOut:
    """Save a call's wrap-up onto its ticket: the notes and disposition as a note on the
    timeline, the ticket's status changed. 404 for a call that was not the agent's."""
    agent, user = await _mine()
    ticket = await work.save_wrapup(
        db(), agent=agent, reservation_id=data.reservation_id, author_id=user.id,
        wrapup=work.WrapUp(data.notes, data.disposition_id, data.ticket_status),
    )
    return WrapUpOut(
        ticket_id=ticket.id, ticket_status=ticket.status.value, url=f"/tickets/{ticket.id}"
    )


@bp.post("/me/voice-token")
@require_role(Role.agent)
@validate_response(VoiceTokenOut, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 503)
async def my_voice_token() -> VoiceTokenOut:
    """An Access Token for the signed-in agent's softphone (its client identity, incoming
    calls allowed). 503 when no API Key is configured to sign it."""
    agent, _ = await _mine()
    try:
        made = tokens.voice_token(settings(), identity=agent.client_identity)
    except tokens.TokensUnavailable as missing:
        raise APIError(503, "tokens_unavailable", str(missing)) from None
    return VoiceTokenOut(token=made.token, identity=made.identity, expires_at=made.expires_at)


async def _agent(agent_id: int) -> tuple[Agent, User]:
    agent = await agents.get_agent(db(), agent_id=agent_id)
    if agent is None:
        raise APIError(404, "not_found", "there is no such agent")
    user = await accounts.get(db(), user_id=agent.user_id)
    assert user is not None
    return agent, user


@bp.post(AGENT + "/monitor")
@require_role(Role.supervisor)
@validate_request(MonitorIn)
@validate_response(MonitorOut, 200)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
@validate_response(api.ErrorOut, 409)
@validate_response(api.ErrorOut, 502)
async def monitor_agent(agent_id: int, data: MonitorIn) -> MonitorOut:
    """Listen to, whisper to or barge into the agent's live call: your softphone (the
    board registers it) is rung into the call's conference. Supervisors and admins; 409
    when the agent is not on a call."""
    supervisor, _ = await _mine()
    await release()
    leg = await monitoring.monitor(
        state().telephony, supervisor_identity=supervisor.client_identity,
        agent_id=agent_id, mode=monitoring.Mode(data.mode),
    )
    return MonitorOut(mode=data.mode, call_sid=leg)


@bp.patch(AGENT)
@require_role(Role.supervisor)
@validate_request(AgentPatch)
@validate_response(AgentOut, 200)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
async def update_agent(agent_id: int, data: AgentPatch) -> AgentOut:
    """Change an agent's skills (`{"billing": 3}`, levels 1 to 10), languages or capacity;
    the queues that select them (`queues`) follow at once. Supervisors and admins."""
    agent, user = await _agent(agent_id)
    actor = current_user()
    assert actor is not None
    await edits.change_agent(
        db(), actor_id=actor.id, agent=agent, email=user.email, changes=data.changes(agent)
    )
    return await _out(agent, user)


@bp.get(AGENT + "/log")
@require_role(Role.supervisor)
@validate_querystring(LogQuery)
@validate_response(StateLogList, 200)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
async def read_agent_log(agent_id: int, query_args: LogQuery) -> StateLogList:
    """The agent's latest changes of activity and routing state, newest first (`limit`,
    50 unless told). Supervisors and admins."""
    if await agents.get_agent(db(), agent_id=agent_id) is None:
        raise APIError(404, "not_found", "there is no such agent")
    rows = await state_log.recent(db(), agent_id=agent_id, limit=query_args.limit)
    return StateLogList(
        items=[StateLogOut.model_validate(row, from_attributes=True) for row in rows]
    )

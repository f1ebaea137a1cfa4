"""Agents: the activity they choose, the routing state routing sets, and the log of both.

Every routing transition is one conditional UPDATE on the state it expects (`WHERE
routing_state = 'idle'` to ring an agent), so two app instances can never hand one agent
two calls: only the instance whose UPDATE changed the row owns the change. Each change
that happened is logged in `agent_state_log` and recorded as `routing.agent.state_changed`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import case, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from callcenter import events
from callcenter.accounts.models import User
from callcenter.db import utcnow
from callcenter.routing import queues
from callcenter.routing.models import (
    Activity,
    Agent,
    AgentStateLog,
    Reservation,
    ReservationStatus,
    RoutingState,
    free_now,
)

MISSED_OFFERS_REASON = "missed offers"
OPEN_OFFER = (ReservationStatus.pending, ReservationStatus.accepted)


async def get_agent(session: AsyncSession, *, agent_id: int) -> Agent | None:
    return await session.get(Agent, agent_id)


async def agent_for_user(session: AsyncSession, *, user: User) -> Agent:
    """The user's agent profile, made on first use with a softphone identity of its own."""
    agent = await session.scalar(select(Agent).where(Agent.user_id == user.id))
    if agent is None:
        agent = Agent(
            user_id=user.id, client_identity=f"agent-{user.id}", skills={}, languages=[],
            capacity={"voice": 1},
        )
        session.add(agent)
        await session.flush()
        await queues.refresh_agent(session, agent=agent)
    return agent


async def list_agents(session: AsyncSession) -> list[tuple[Agent, User]]:
    rows = await session.execute(select(Agent, User).join(User).order_by(Agent.id))
    return [(agent, user) for agent, user in rows]


def _log(
    session: AsyncSession,
    *,
    agent_id: int,
    kind: str,
    state: str,
    reason: str | None = None,
    task_id: int | None = None,
    at: dt.datetime | None = None,
) -> None:
    session.add(
        AgentStateLog(
            agent_id=agent_id, kind=kind, state=state, reason=reason, task_id=task_id,
            at=at or utcnow(),
        )
    )
    events.record(
        session, "routing.agent.state_changed",
        agent_id=agent_id, kind=kind, state=state, reason=reason,
    )


async def set_activity(
    session: AsyncSession, *, agent: Agent, activity: Activity, reason: str | None = None
) -> Agent:
    """An agent's own choice. It never interrupts a task: an agent who goes on a break while
    on a call finishes the call and is offered nothing more. Going available makes them idle
    from now (a long break does not put them first in line) and forgives missed offers."""
    if activity != Activity.on_break:
        reason = None
    if agent.activity == activity and agent.break_reason == reason:
        return agent
    now = utcnow()
    values: dict[str, Any] = {
        "activity": activity, "break_reason": reason, "activity_changed_at": now,
    }
    if activity == Activity.available:
        values.update(missed_offers=0, idle_since=now)
    await session.execute(
        update(Agent).where(Agent.id == agent.id).values(**values)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(agent)
    _log(session, agent_id=agent.id, kind="activity", state=activity.value, reason=reason, at=now)
    return agent


async def update_profile(
    session: AsyncSession,
    *,
    agent: Agent,
    skills: dict[str, int] | None = None,
    languages: list[str] | None = None,
    capacity: dict[str, int] | None = None,
) -> Agent:
    """Change what routing knows of an agent (a supervisor's edit); the queues that select
    them are worked out again at once."""
    if skills is not None:
        agent.skills = {name.lower(): level for name, level in skills.items()}
    if languages is not None:
        agent.languages = sorted({code.lower() for code in languages})
    if capacity is not None:
        agent.capacity = dict(capacity)
    await session.flush()
    await queues.refresh_agent(session, agent=agent)
    return agent


async def _move(
    session: AsyncSession,
    *,
    agent_id: int,
    where: ColumnElement[bool],
    to: RoutingState,
    task_id: int | None,
    reason: str | None = None,
    **values: Any,
) -> bool:
    now = utcnow()
    moved = await session.scalar(
        update(Agent)
        .where(Agent.id == agent_id, where)
        .values(routing_state=to, routing_state_changed_at=now, **values)
        .returning(Agent.id)
        .execution_options(synchronize_session=False)
    )
    if moved is None:
        return False
    _log(
        session, agent_id=agent_id, kind="routing", state=to.value, reason=reason,
        task_id=task_id, at=now,
    )
    return True


async def claim(session: AsyncSession, *, agent_id: int, task_id: int) -> bool:
    """Ring the agent for a task if they are free right now; False if another offer (from
    this instance or another) got them first."""
    return await _move(
        session, agent_id=agent_id, where=free_now(utcnow()), to=RoutingState.ringing,
        task_id=task_id, wrapup_until=None,
    )


async def answered(session: AsyncSession, *, agent_id: int, task_id: int) -> None:
    """The agent accepted their offer: on a call now."""
    await _move(
        session, agent_id=agent_id, where=Agent.routing_state == RoutingState.ringing,
        to=RoutingState.on_call, task_id=task_id,
    )


async def offer_ended(
    session: AsyncSession,
    *,
    agent_id: int,
    task_id: int,
    missed: bool,
    missed_limit: int,
    reason: str | None = None,
) -> bool:
    """A ringing offer ended unanswered: the agent is idle again (their place in line kept).

    A missed offer (rejected or unanswered, not one withdrawn because the caller left or a
    colleague took it) counts; `missed_limit` in a row puts the agent on a break with the
    reason "missed offers", so callers stop ringing a phone nobody is at. True when that
    happened."""
    values: dict[str, Any] = {}
    if missed:
        values["missed_offers"] = Agent.missed_offers + 1
    if not await _move(
        session, agent_id=agent_id, where=Agent.routing_state == RoutingState.ringing,
        to=RoutingState.idle, task_id=task_id, reason=reason or ("missed" if missed else None),
        **values,
    ):
        return False
    if not missed:
        return False
    now = utcnow()
    benched = await session.scalar(
        update(Agent)
        .where(
            Agent.id == agent_id,
            Agent.missed_offers >= missed_limit,
            Agent.activity == Activity.available,
        )
        .values(
            activity=Activity.on_break, break_reason=MISSED_OFFERS_REASON,
            activity_changed_at=now,
        )
        .returning(Agent.id)
        .execution_options(synchronize_session=False)
    )
    if benched is None:
        return False
    _log(
        session, agent_id=agent_id, kind="activity", state=Activity.on_break.value,
        reason=MISSED_OFFERS_REASON, task_id=task_id, at=now,
    )
    return True


async def task_done(
    session: AsyncSession,
    *,
    agent_id: int,
    task_id: int,
    wrapup_seconds: int,
    talk_seconds: int,
    counted: bool = True,
    reason: str | None = None,
) -> dt.datetime | None:
    """The agent's call ended: into wrap-up for the queue's wrap-up time (or straight to
    idle for none), counting the call in today's figures (unless it never connected:
    `counted` False). Returns when wrap-up ends."""
    now = utcnow()
    today = now.date()
    until = now + dt.timedelta(seconds=wrapup_seconds) if wrapup_seconds > 0 else None
    fresh_day = or_(Agent.stats_day.is_(None), Agent.stats_day != today)
    values: dict[str, Any] = {
        "missed_offers": 0,
        "stats_day": today,
        "calls_today": _today(fresh_day, Agent.calls_today) + (1 if counted else 0),
        "talk_seconds_today": _today(fresh_day, Agent.talk_seconds_today) + talk_seconds,
    }
    # Idle from the end of wrap-up: an agent whose wrap-up ran out unnoticed is not first
    # in line for having been idle since before their call.
    values["idle_since"] = until or now
    moved = await _move(
        session, agent_id=agent_id,
        where=Agent.routing_state.in_((RoutingState.on_call, RoutingState.ringing)),
        to=RoutingState.wrap_up if until else RoutingState.idle, task_id=task_id,
        reason=reason, wrapup_until=until, **values,
    )
    return until if moved else None


def _today(fresh_day: ColumnElement[bool], column: Any) -> Any:
    """A today-only counter's current value: zero once the day has turned."""
    return case((fresh_day, 0), else_=column)


async def end_wrapup(session: AsyncSession, *, agent_id: int) -> bool:
    """Wrap-up over (the agent said so, or its time came): idle, and idle from now."""
    now = utcnow()
    return await _move(
        session, agent_id=agent_id, where=Agent.routing_state == RoutingState.wrap_up,
        to=RoutingState.idle, task_id=None, wrapup_until=None, idle_since=now,
    )


async def heartbeat(session: AsyncSession, *, agent: Agent) -> None:
    """The agent's softphone page is alive (the watchdog sets silent agents offline)."""
    agent.last_heartbeat_at = utcnow()
    await session.flush()


async def anyone_free(session: AsyncSession) -> bool:
    """Whether any agent could be offered a task right now (a cheap check before a pass)."""
    found = await session.scalar(select(Agent.id).where(free_now(utcnow())).limit(1))
    return found is not None


async def busy_agents(session: AsyncSession) -> list[Agent]:
    """Agents routing has ringing or on a call (the watchdog checks each is really so)."""
    rows = await session.scalars(
        select(Agent).where(Agent.routing_state.in_((RoutingState.ringing, RoutingState.on_call)))
    )
    return list(rows)


async def wrapups_over(session: AsyncSession) -> list[int]:
    """Agents whose wrap-up time has run out but who are still marked in wrap-up."""
    rows = await session.scalars(
        select(Agent.id).where(
            Agent.routing_state == RoutingState.wrap_up, Agent.wrapup_until <= utcnow()
        )
    )
    return list(rows)


async def silent_since(session: AsyncSession, *, before: dt.datetime) -> list[int]:
    """Available agents whose softphone page sent heartbeats and then stopped: nobody is
    at that desk. Agents who never sent one (bots, API clients) are not judged."""
    rows = await session.scalars(
        select(Agent.id).where(
            Agent.activity == Activity.available,
            Agent.last_heartbeat_at.is_not(None),
            Agent.last_heartbeat_at < before,
        )
    )
    return list(rows)


async def repair(
    session: AsyncSession, *, agent_id: int, reason: str, activity: Activity | None = None
) -> bool:
    """The watchdog's fix for an agent stuck in a state nothing will end: routing idle
    (and, with `activity`, that activity), logged with the reason."""
    now = utcnow()
    values: dict[str, Any] = {}
    if activity is not None:
        values.update(activity=activity, activity_changed_at=now, break_reason=None)
    # Only while they still have no open offer: another instance may have just rung them.
    no_offer = ~(
        select(Reservation.id)
        .where(Reservation.agent_id == agent_id, Reservation.status.in_(OPEN_OFFER))
        .exists()
    )
    return await _move(
        session, agent_id=agent_id,
        where=Agent.routing_state.in_((RoutingState.ringing, RoutingState.on_call)) & no_offer,
        to=RoutingState.idle, task_id=None, reason=f"watchdog: {reason}",
        wrapup_until=None, **values,
    )


async def go_offline(session: AsyncSession, *, agent_id: int, reason: str) -> bool:
    """Set an available agent offline on the system's say-so (logged with the reason)."""
    now = utcnow()
    done = await session.scalar(
        update(Agent)
        .where(Agent.id == agent_id, Agent.activity == Activity.available)
        .values(activity=Activity.offline, activity_changed_at=now, break_reason=None)
        .returning(Agent.id)
        .execution_options(synchronize_session=False)
    )
    if done is None:
        return False
    _log(session, agent_id=agent_id, kind="activity", state=Activity.offline.value,
         reason=reason, at=now)
    return True


def work_changed(session: AsyncSession, *, agent_id: int) -> None:
    """What the agent works on changed without their routing state changing (a hold, a
    wrap-up saved, a colleague answering a consultation): their page reads it again."""
    events.record(session, "routing.agent.work_changed", agent_id=agent_id)

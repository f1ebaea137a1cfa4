"""Agents' activity and reservations: who is free, who gets the next call, what they did.

The longest-idle available agent gets the next call. Claiming an agent is one conditional
UPDATE from `available` to `reserved`; only the instance whose UPDATE changed the row owns
the offer, so several instances sharing PostgreSQL never double-book an agent.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import object_session

from callcenter import events
from callcenter.accounts.models import User
from callcenter.db import utcnow
from callcenter.routing.models import Activity, Agent, Reservation, ReservationStatus

# Activities in which an agent counts as "staffing the phones" for the caller's sake.
ONLINE = (Activity.available, Activity.reserved, Activity.busy)
OPEN = (ReservationStatus.pending, ReservationStatus.accepted)


async def get_agent(session: AsyncSession, *, agent_id: int) -> Agent | None:
    return await session.get(Agent, agent_id)


async def agent_for_user(session: AsyncSession, *, user: User) -> Agent:
    """The user's agent profile, made on first use with a softphone identity of its own."""
    agent = await session.scalar(select(Agent).where(Agent.user_id == user.id))
    if agent is None:
        agent = Agent(user_id=user.id, client_identity=f"agent-{user.id}")
        session.add(agent)
        await session.flush()
    return agent


class ActivityConflict(Exception):
    """The agent's activity cannot change now (they are ringing or on a call)."""


async def set_activity(session: AsyncSession, *, agent: Agent, activity: Activity) -> Agent:
    """An agent's own choice of activity; going available makes them idle from now.

    Routing owns `reserved` and `busy`: while an agent rings or talks they may only go
    offline (the call goes on; they are not offered another). The change is a conditional
    UPDATE on the activity we read, so it cannot overwrite one routing made meanwhile.
    """
    seen = agent.activity
    if seen == activity:
        return agent
    if activity == Activity.available and await has_open_reservation(session, agent_id=agent.id):
        raise ActivityConflict("finish the current call first")
    if seen in (Activity.reserved, Activity.busy) and activity != Activity.offline:
        raise ActivityConflict("finish the current call first")
    now = utcnow()
    values: dict[str, object] = {"activity": activity, "activity_changed_at": now}
    if activity == Activity.available:
        values["idle_since"] = now
    changed = await session.execute(
        update(Agent)
        .where(Agent.id == agent.id, Agent.activity == seen)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise ActivityConflict("your activity changed meanwhile; try again")
    await session.refresh(agent)
    _state_changed(session, agent_id=agent.id, activity=activity)
    return agent


def _state_changed(session: AsyncSession, *, agent_id: int, activity: Activity) -> None:
    events.record(
        session, "routing.agent.state_changed", agent_id=agent_id, activity=activity.value
    )


async def has_open_reservation(session: AsyncSession, *, agent_id: int) -> bool:
    found = await session.scalar(
        select(Reservation.id)
        .where(Reservation.agent_id == agent_id, Reservation.status.in_(OPEN))
        .limit(1)
    )
    return found is not None


async def agents_online(session: AsyncSession) -> int:
    """How many agents are signed in to the phones (available, ringing or on a call)."""
    count = await session.scalar(
        select(func.count()).select_from(Agent).where(Agent.activity.in_(ONLINE))
    )
    return count or 0


async def any_available(session: AsyncSession) -> bool:
    """Whether any agent is free for an offer right now (a cheap check before dispatching)."""
    found = await session.scalar(
        select(Agent.id).where(Agent.activity == Activity.available).limit(1)
    )
    return found is not None


async def list_agents(session: AsyncSession) -> list[tuple[Agent, User]]:
    rows = await session.execute(select(Agent, User).join(User).order_by(Agent.id))
    return [(agent, user) for agent, user in rows]


async def claim_longest_idle(
    session: AsyncSession, *, exclude: set[int] | None = None
) -> Agent | None:
    """Reserve the available agent idle the longest, skipping `exclude`; None if nobody is free."""
    candidates = await session.scalars(
        select(Agent.id)
        .where(Agent.activity == Activity.available)
        .order_by(Agent.idle_since, Agent.id)
    )
    for agent_id in candidates:
        if exclude and agent_id in exclude:
            continue
        claimed = await session.execute(
            update(Agent)
            .where(Agent.id == agent_id, Agent.activity == Activity.available)
            .values(activity=Activity.reserved, activity_changed_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            _state_changed(session, agent_id=agent_id, activity=Activity.reserved)
            return await session.get(Agent, agent_id, populate_existing=True)
    return None


async def release(session: AsyncSession, *, agent_id: int, after_call: bool) -> None:
    """Put a reserved or busy agent back to available once no offer of theirs is open.

    An agent who went offline meanwhile stays offline: the choice was theirs.
    """
    now = utcnow()
    values: dict[str, object] = {"activity": Activity.available, "activity_changed_at": now}
    if after_call:
        values["idle_since"] = now
    still_open = (
        select(Reservation.id)
        .where(Reservation.agent_id == agent_id, Reservation.status.in_(OPEN))
        .exists()
    )
    released = await session.scalar(
        update(Agent)
        .where(
            Agent.id == agent_id,
            Agent.activity.in_((Activity.reserved, Activity.busy)),
            ~still_open,
        )
        .values(**values)
        .returning(Agent.id)
        .execution_options(synchronize_session=False)
    )
    if released is not None:
        _state_changed(session, agent_id=agent_id, activity=Activity.available)


async def mark_busy(session: AsyncSession, *, agent_id: int) -> None:
    """The agent answered their offer (an agent who went offline while ringing stays so)."""
    busy = await session.scalar(
        update(Agent)
        .where(Agent.id == agent_id, Agent.activity == Activity.reserved)
        .values(activity=Activity.busy, activity_changed_at=utcnow())
        .returning(Agent.id)
        .execution_options(synchronize_session=False)
    )
    if busy is not None:
        _state_changed(session, agent_id=agent_id, activity=Activity.busy)


async def create_reservation(session: AsyncSession, *, call_id: int, agent: Agent) -> Reservation:
    reservation = Reservation(call_id=call_id, agent_id=agent.id)
    session.add(reservation)
    await session.flush()
    events.record(
        session, "routing.reservation.created",
        reservation_id=reservation.id, call_id=call_id, agent_id=agent.id,
    )
    return reservation


def accept_reservation(reservation: Reservation) -> None:
    """The agent picked up their offer."""
    reservation.status = ReservationStatus.accepted
    reservation.answered_at = utcnow()
    _reservation_event(reservation, "routing.reservation.accepted")


def _reservation_event(reservation: Reservation, name: str) -> None:
    session = object_session(reservation)
    if session is not None:
        events.record(
            session, name, reservation_id=reservation.id, call_id=reservation.call_id,
            agent_id=reservation.agent_id, status=reservation.status.value,
        )


async def get_reservation(session: AsyncSession, *, reservation_id: int) -> Reservation | None:
    return await session.get(Reservation, reservation_id)


async def open_reservation(session: AsyncSession, *, call_id: int) -> Reservation | None:
    """The offer in flight for a call (ringing an agent, or answered), if any."""
    return await session.scalar(
        select(Reservation).where(Reservation.call_id == call_id, Reservation.status.in_(OPEN))
    )


async def agents_who_declined(session: AsyncSession, *, call_id: int) -> set[int]:
    """Agents this call was offered to without success: not offered it again."""
    rows = await session.scalars(
        select(Reservation.agent_id).where(
            Reservation.call_id == call_id,
            Reservation.status.in_(
                (ReservationStatus.rejected, ReservationStatus.timeout, ReservationStatus.failed)
            ),
        )
    )
    return set(rows)


def close_reservation(reservation: Reservation, *, status: ReservationStatus) -> None:
    reservation.status = status
    reservation.ended_at = utcnow()
    _reservation_event(reservation, "routing.reservation.closed")


async def stale_reservations(
    session: AsyncSession, *, ringing_before: dt.datetime, answered_before: dt.datetime
) -> list[Reservation]:
    """Offers that should have ended by now: ringing past any ring timeout (the agent was
    never rung, or the callback was lost), or answered long ago (the end was lost)."""
    rows = await session.scalars(
        select(Reservation).where(
            (
                (Reservation.status == ReservationStatus.pending)
                & (Reservation.created_at < ringing_before)
            )
            | (
                (Reservation.status == ReservationStatus.accepted)
                & (Reservation.created_at < answered_before)
            )
        )
    )
    return list(rows)

"""The watchdog repairs routing states nothing else would end, and logs each repair."""

from __future__ import annotations

import datetime as dt

import pytest
from builders import make_agent, make_offer, waiting_call
from quart import Quart
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.flows import watchdog
from callcenter.routing import agents, tasks
from callcenter.routing.models import (
    Activity,
    AgentStateLog,
    ReservationStatus,
    RoutingState,
    TaskStatus,
)

AGO = dt.timedelta(minutes=10)


async def _log(session: AsyncSession, agent_id: int) -> list[tuple[str, str, str | None]]:
    rows = await session.scalars(
        select(AgentStateLog).where(AgentStateLog.agent_id == agent_id).order_by(AgentStateLog.id)
    )
    return [(row.kind, row.state, row.reason) for row in rows]


@pytest.fixture
def tel(app: Quart):
    return app.extensions["callcenter"].telephony


async def test_an_offer_ringing_past_any_ring_time_is_closed_and_the_agent_freed(
    tel, db_session: AsyncSession
):
    _call, task = await waiting_call(db_session)
    agent = await make_agent(db_session)
    reservation = await make_offer(db_session, task=task, agent=agent)
    reservation.created_at = dt.datetime.now(dt.UTC) - AGO
    reservation_id, agent_id = reservation.id, agent.id
    await db_session.commit()

    assert await watchdog.patrol(tel) >= 1
    db_session.expire_all()
    closed = await tasks.get_reservation(db_session, reservation_id=reservation_id)
    assert closed is not None and closed.status == ReservationStatus.failed
    freed = await agents.get_agent(db_session, agent_id=agent_id)
    assert freed is not None and freed.routing_state == RoutingState.idle


async def test_an_agent_ringing_with_no_offer_open_is_made_idle_with_the_reason_logged(
    tel, db_session: AsyncSession
):
    agent = await make_agent(db_session)
    agent.routing_state = RoutingState.on_call
    agent_id = agent.id
    await db_session.commit()

    assert await watchdog.patrol(tel) == 1
    db_session.expire_all()
    repaired = await agents.get_agent(db_session, agent_id=agent_id)
    assert repaired is not None and repaired.routing_state == RoutingState.idle
    assert ("routing", "idle", "watchdog: no offer open") in await _log(db_session, agent_id)
    assert await watchdog.patrol(tel) == 0, "nothing left to repair"


async def test_a_wrapup_whose_time_ran_out_ends_and_its_task_is_completed(
    tel, db_session: AsyncSession
):
    _call, task = await waiting_call(db_session)
    agent = await make_agent(db_session)
    reservation = await make_offer(db_session, task=task, agent=agent)
    tasks.accept(reservation, task)
    await agents.answered(db_session, agent_id=agent.id, task_id=task.id)
    tasks.close(reservation, status=ReservationStatus.completed)
    await agents.task_done(
        db_session, agent_id=agent.id, task_id=task.id, wrapup_seconds=30, talk_seconds=40
    )
    tasks.set_status(task, TaskStatus.wrapping)
    agent_id, task_id = agent.id, task.id
    await db_session.commit()
    assert await watchdog.patrol(tel) == 0, "wrap-up is not over yet"

    db_session.expire_all()
    agent = await agents.get_agent(db_session, agent_id=agent_id)
    assert agent is not None and agent.routing_state == RoutingState.wrap_up
    agent.wrapup_until = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    await db_session.commit()
    assert await watchdog.patrol(tel) == 1
    db_session.expire_all()
    idle = await agents.get_agent(db_session, agent_id=agent_id)
    assert idle is not None and idle.routing_state == RoutingState.idle
    assert idle.calls_today == 1 and idle.talk_seconds_today == 40
    done = await tasks.get_task(db_session, task_id=task_id)
    assert done is not None and done.status == TaskStatus.completed


async def test_an_agent_whose_softphone_went_silent_is_set_offline(
    tel, db_session: AsyncSession
):
    silent = await make_agent(db_session)
    alive = await make_agent(db_session)
    never = await make_agent(db_session)  # a bot or API client: never sent a heartbeat
    silent.last_heartbeat_at = dt.datetime.now(dt.UTC) - AGO
    alive.last_heartbeat_at = dt.datetime.now(dt.UTC)
    ids = [silent.id, alive.id, never.id]
    await db_session.commit()

    assert await watchdog.patrol(tel) == 1
    db_session.expire_all()
    states = [(await agents.get_agent(db_session, agent_id=i)).activity for i in ids]
    assert states == [Activity.offline, Activity.available, Activity.available]
    assert ("activity", "offline", watchdog.SOFTPHONE_SILENT) in await _log(db_session, ids[0])

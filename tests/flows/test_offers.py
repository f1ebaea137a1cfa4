"""Offers that cannot be made, or are left hanging, never strand a caller or an agent."""

from __future__ import annotations

import datetime as dt

from builders import make_agent, make_offer, waiting_call
from quart import Quart
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.flows import inbound, offers
from callcenter.routing import agents, tasks
from callcenter.routing.models import Activity, ReservationStatus, RoutingState, TaskStatus


async def test_unreachable_twilio_closes_the_offer_and_frees_the_agent(
    app: Quart, db_session: AsyncSession
):
    """The test settings point Twilio's API at a closed port: ringing the agent fails."""
    _call, task = await waiting_call(db_session)
    agent = await make_agent(db_session)
    task_id, agent_id = task.id, agent.id
    await db_session.commit()
    tel = app.extensions["callcenter"].telephony
    assert await offers.dispatch(tel) == 1
    db_session.expire_all()
    assert await tasks.open_reservations(db_session, task_id=task_id) == [], "no offer is open"
    task = await tasks.get_task(db_session, task_id=task_id)
    assert task is not None and task.status == TaskStatus.pending, "the caller is back in line"
    agent = await agents.get_agent(db_session, agent_id=agent_id)
    assert agent is not None and agent.routing_state == RoutingState.idle
    assert agent.missed_offers == 0, "Twilio's failure is not the agent's miss"
    assert await tasks.agents_who_declined(db_session, task_id=task_id) == {agent_id}


async def test_a_pass_reads_the_line_on_past_tasks_nobody_free_suits(
    app: Quart, db_session: AsyncSession
):
    """More than a page of callers ahead who need a language nobody free speaks: the pass
    reads on and offers the caller behind them to the free agent."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
    for number in range(offers.PAGE + 3):
        await waiting_call(
            db_session, sid=f"CA{number:032d}", attributes={"language": "ko"},
            entered_at=start + dt.timedelta(seconds=number),
        )
    _call, behind = await waiting_call(db_session, sid="CA" + "f" * 32)
    agent = await make_agent(db_session, languages=["en"])
    behind_id, agent_id = behind.id, agent.id
    await db_session.commit()
    # Twilio is unreachable in tests: the ring fails, and the offer stays on record.
    assert await offers.dispatch(app.extensions["callcenter"].telephony) == 1
    assert await tasks.agents_who_declined(db_session, task_id=behind_id) == {agent_id}


async def test_caller_leaving_the_queue_is_not_offered(app: Quart, db_session: AsyncSession):
    _call, task = await waiting_call(db_session)
    task.leaving = "no-agents"
    await make_agent(db_session)
    await db_session.commit()
    assert await offers.dispatch(app.extensions["callcenter"].telephony) == 0


async def test_offer_ringing_too_long_is_withdrawn_at_the_next_wait_round(
    app: Quart, db_session: AsyncSession
):
    """An offer left ringing (a crash before the agent was rung, a lost callback) is closed,
    its agent freed and its leg ended, when the caller's wait loop comes round."""
    tel = app.extensions["callcenter"].telephony
    call, task = await waiting_call(db_session)
    agent = await make_agent(db_session)
    reservation = await make_offer(db_session, task=task, agent=agent)
    reservation.created_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    reservation.agent_call_sid = "CA" + "2" * 32
    await db_session.commit()
    _twiml, hangups = await inbound.queue_wait(
        db_session,
        tel,
        node_id="support",
        params={"CallSid": call.sid, "QueueTime": "300", "QueuePosition": "1"},
    )
    await db_session.commit()
    assert [(h.call_sid, h.ringing) for h in hangups] == [("CA" + "2" * 32, True)]
    await db_session.refresh(reservation)
    await db_session.refresh(agent)
    assert reservation.status == ReservationStatus.failed
    assert agent.routing_state == RoutingState.idle
    assert agent.activity == Activity.available


async def test_an_agent_who_goes_offline_while_ringing_keeps_the_offer_but_gets_no_more(
    db_session: AsyncSession,
):
    """Activity is the agent's, routing state routing's: going offline does not drop the
    call ringing on their phone, but nothing more is offered to them."""
    _call, task = await waiting_call(db_session)
    agent = await make_agent(db_session)
    await make_offer(db_session, task=task, agent=agent)
    await agents.set_activity(db_session, agent=agent, activity=Activity.offline)
    assert agent.routing_state == RoutingState.ringing
    assert not await agents.claim(db_session, agent_id=agent.id, task_id=task.id)


async def test_an_agent_who_left_before_the_caller_came_puts_the_caller_back_in_line(
    app: Quart, db_session: AsyncSession
):
    """The agent picked up, but their answer was cut short before the caller left the queue
    (a deadline, a dead instance, an instant hang-up): the caller still waits, and must be
    offered again rather than counted as answered."""
    tel = app.extensions["callcenter"].telephony
    _call, task = await waiting_call(db_session)
    agent = await make_agent(db_session)
    reservation = await make_offer(db_session, task=task, agent=agent)
    tasks.accept(reservation, task)
    await agents.answered(db_session, agent_id=agent.id, task_id=task.id)
    reservation.agent_call_sid = "CA" + "3" * 32
    ids = (reservation.id, task.id, agent.id)
    await db_session.commit()

    outcome = await offers.agent_leg_status(
        db_session, tel, reservation_id=ids[0],
        params={"CallSid": "CA" + "3" * 32, "CallStatus": "completed", "SequenceNumber": "3"},
    )
    await db_session.commit()
    assert outcome.dispatch, "the caller is offered to the next agent"
    db_session.expire_all()
    assert (await tasks.get_reservation(db_session, reservation_id=ids[0])).status == (
        ReservationStatus.failed
    )
    back = await tasks.get_task(db_session, task_id=ids[1])
    assert back is not None and back.status == TaskStatus.pending
    freed = await agents.get_agent(db_session, agent_id=ids[2])
    assert freed is not None and freed.routing_state == RoutingState.idle
    assert freed.calls_today == 0, "no conversation happened"

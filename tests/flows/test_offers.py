"""Offers that cannot be made, or are left hanging, never strand a caller or an agent."""

from __future__ import annotations

import datetime as dt

import pytest
from builders import make_user
from quart import Quart
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.flows import inbound, offers
from callcenter.routing import service as routing
from callcenter.routing.models import Activity, Agent, Reservation, ReservationStatus
from callcenter.telephony import service as calls
from callcenter.telephony.models import Call


async def _waiting_call(session: AsyncSession, *, sid: str = "CA" + "1" * 32) -> Call:
    call, _ = await calls.start_inbound(
        session, sid=sid, from_number="+14155550100", to_number="+1"
    )
    calls.mark_enqueued(call, queue="support", queue_sid="QU" + "0" * 32)
    await session.flush()
    return call


async def _available_agent(session: AsyncSession) -> Agent:
    agent = await routing.agent_for_user(session, user=await make_user(session))
    await routing.set_activity(session, agent=agent, activity=Activity.available)
    return agent


async def test_unreachable_twilio_closes_the_offer_and_frees_the_agent(
    app: Quart, db_session: AsyncSession
):
    """The test settings point Twilio's API at a closed port: ringing the agent fails."""
    call = await _waiting_call(db_session)
    agent = await _available_agent(db_session)
    call_id, agent_id = call.id, agent.id
    await db_session.commit()
    tel = app.extensions["callcenter"].telephony
    assert await offers.dispatch(tel) == 1
    db_session.expire_all()
    reservation = await routing.open_reservation(db_session, call_id=call_id)
    assert reservation is None, "no offer is left open"
    agent = await routing.get_agent(db_session, agent_id=agent_id)
    assert agent is not None and agent.activity == Activity.available
    assert await routing.agents_who_declined(db_session, call_id=call_id) == {agent_id}


async def test_caller_leaving_the_queue_is_not_offered(app: Quart, db_session: AsyncSession):
    call = await _waiting_call(db_session)
    call.queue_result = "leaving"
    await _available_agent(db_session)
    await db_session.commit()
    assert await offers.dispatch(app.extensions["callcenter"].telephony) == 0


async def test_offer_ringing_too_long_is_withdrawn_at_the_next_wait_round(
    app: Quart, db_session: AsyncSession
):
    """An offer left ringing (a crash before the agent was rung, a lost callback) is closed,
    its agent freed and its leg ended, when the caller's wait loop comes round."""
    tel = app.extensions["callcenter"].telephony
    call = await _waiting_call(db_session)
    await _available_agent(db_session)
    claimed = await routing.claim_longest_idle(db_session)
    assert claimed is not None
    reservation = await routing.create_reservation(db_session, call_id=call.id, agent=claimed)
    reservation.created_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    reservation.agent_call_sid = "CA" + "2" * 32
    await db_session.commit()
    _twiml, hangup = await inbound.queue_wait(
        db_session,
        tel,
        node_id="support",
        params={"CallSid": call.sid, "QueueTime": "300", "QueuePosition": "1"},
    )
    await db_session.commit()
    assert hangup is not None and hangup.call_sid == "CA" + "2" * 32 and hangup.ringing
    await db_session.refresh(reservation)
    await db_session.refresh(claimed)
    assert reservation.status == ReservationStatus.failed
    assert claimed.activity == Activity.available


async def test_agent_with_an_open_offer_cannot_go_available_again(db_session: AsyncSession):
    call = await _waiting_call(db_session)
    agent = await _available_agent(db_session)
    claimed = await routing.claim_longest_idle(db_session)
    assert claimed is not None and claimed.id == agent.id
    db_session.add(Reservation(call_id=call.id, agent_id=agent.id))
    await routing.set_activity(db_session, agent=claimed, activity=Activity.offline)
    with pytest.raises(routing.ActivityConflict):
        await routing.set_activity(db_session, agent=claimed, activity=Activity.available)

"""A call's final status callback racing its first webhook, in two transactions at once on
PostgreSQL (as two instances would run them): whichever commits first, the call ends up
closed and on its ticket, and a retry of either changes nothing. SQLite serialises every
transaction on its write lock, so this race cannot happen there."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from quart import Quart
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from twilio_requests import call_sid, voice_params

from callcenter.config import Settings
from callcenter.db import create_engine, create_sessionmaker
from callcenter.flows import Telephony, inbound
from callcenter.telephony import service as calls
from callcenter.telephony.models import CallStatus, Outcome
from callcenter.tickets.models import TicketEvent

pytestmark = pytest.mark.backends("postgres")


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


def _telephony(app: Quart) -> Telephony:
    return app.extensions["callcenter"].telephony


async def _blocked(task: asyncio.Task[object]) -> None:
    """The second transaction must be waiting on the first's uncommitted row, not done."""
    await asyncio.sleep(0.3)
    assert not task.done(), "the second transaction did not wait for the first"


async def _settled(sessions: async_sessionmaker[AsyncSession], sid: str) -> None:
    async with sessions() as session:
        call = await calls.get_by_sid(session, sid=sid)
        assert call is not None
        assert call.status == CallStatus.completed
        assert call.outcome == Outcome.left_in_ivr
        assert call.customer_id is not None
        landed = select(func.count()).where(TicketEvent.call_id == call.id)
        assert await session.scalar(landed) == 1


@pytest.mark.parametrize("first", ["callback", "webhook"])
async def test_final_callback_and_first_webhook_in_parallel_both_apply(
    app: Quart, settings: Settings, sessions: async_sessionmaker[AsyncSession], first: str
):
    sid = call_sid()
    incoming = voice_params(settings, sid=sid)
    final = voice_params(settings, sid=sid, status="completed", SequenceNumber="2",
                         CallbackSource="call-progress-events")
    tel = _telephony(app)
    async with sessions() as one, sessions() as two:
        if first == "callback":
            await inbound.call_status(one, params=final)
            second = asyncio.create_task(inbound.incoming_call(two, tel, params=incoming))
        else:
            await inbound.incoming_call(one, tel, params=incoming)
            second = asyncio.create_task(inbound.call_status(two, params=final))
        await _blocked(second)
        await one.commit()
        answer = await second
        await two.commit()
    if first == "callback":
        assert "<Hangup />" in str(answer)  # the caller is gone: no greeting for nobody
    await _settled(sessions, sid)
    async with sessions() as again:  # Twilio retrying either changes nothing
        await inbound.call_status(again, params=final)
        await inbound.incoming_call(again, tel, params=incoming)
        await again.commit()
    await _settled(sessions, sid)

"""One unit of work: follow-ups and events start when the transaction commits, never before
and never if it rolls back; a savepoint's rollback leaves the transaction's own intact."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter import events, unit_of_work
from callcenter.db import create_engine, create_sessionmaker

pytestmark = pytest.mark.backends("sqlite")  # the session's events, not the database's


@pytest.fixture
async def bus() -> AsyncIterator[events.LocalBus]:
    local = events.LocalBus()
    yield local
    await local.close()


@pytest.fixture
async def sessions(
    database_url: str, bus: events.LocalBus
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    try:
        yield create_sessionmaker(engine, publish=bus.publish)
    finally:
        await engine.dispose()


async def _settle() -> None:
    """Let follow-up tasks started by a commit run."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_follow_ups_run_after_the_commit_and_not_before(
    sessions: async_sessionmaker[AsyncSession],
):
    ran: list[str] = []

    async def follow_up(what: str) -> None:
        ran.append(what)

    async with sessions() as session:
        await session.execute(text("SELECT 1"))
        unit_of_work.after_commit(session, follow_up, "ring the agent")
        await _settle()
        assert ran == [], "nothing runs while the transaction is open"
        await session.commit()
        await _settle()
    assert ran == ["ring the agent"]


async def test_a_rolled_back_transaction_runs_nothing_and_publishes_nothing(
    sessions: async_sessionmaker[AsyncSession], bus: events.LocalBus
):
    ran: list[str] = []

    async def follow_up() -> None:
        ran.append("ran")

    async with bus.subscribe() as heard, sessions() as session:
        await session.execute(text("SELECT 1"))
        unit_of_work.after_commit(session, follow_up)
        events.record(session, "routing.task.created", task_id=1)
        await session.rollback()
        await session.commit()  # a later, empty transaction must not carry them over
        await _settle()
        assert heard.queue.empty()
    assert ran == []


async def test_a_savepoint_rolling_back_keeps_the_transactions_own(
    sessions: async_sessionmaker[AsyncSession], bus: events.LocalBus
):
    """Services use savepoints for inserts that may conflict (a repeated callback): their
    failure is not the transaction's, and what it recorded still follows its commit."""
    async with bus.subscribe("telephony.") as heard, sessions() as session:
        events.record(session, "telephony.call.ended", call_id=7)
        await session.execute(text("CREATE TEMP TABLE once (id INTEGER PRIMARY KEY)"))
        await session.execute(text("INSERT INTO once VALUES (1)"))
        with pytest.raises(IntegrityError):
            async with session.begin_nested():
                await session.execute(text("INSERT INTO once VALUES (1)"))
        await session.commit()
        event = await asyncio.wait_for(heard.__anext__(), timeout=2)
    assert isinstance(event, events.Event)
    assert (event.name, event.data) == ("telephony.call.ended", {"call_id": 7})


async def test_a_released_savepoint_is_no_commit(
    sessions: async_sessionmaker[AsyncSession], bus: events.LocalBus
):
    """Releasing a savepoint commits nothing yet: if the transaction then rolls back,
    nothing promised before or inside the savepoint may happen."""
    ran: list[str] = []

    async def follow_up(what: str) -> None:
        ran.append(what)

    async with bus.subscribe() as heard, sessions() as session:
        unit_of_work.after_commit(session, follow_up, "before")
        async with session.begin_nested():
            await session.execute(text("SELECT 1"))
            unit_of_work.after_commit(session, follow_up, "inside")
            events.record(session, "routing.task.created", task_id=1)
        await _settle()
        assert ran == [], "a savepoint's release started follow-ups"
        await session.rollback()
        await _settle()
        assert heard.queue.empty()
    assert ran == []


async def test_a_savepoint_rolled_back_drops_only_what_it_promised(
    sessions: async_sessionmaker[AsyncSession], bus: events.LocalBus
):
    async with bus.subscribe() as heard, sessions() as session:
        events.record(session, "telephony.call.started", call_id=1)
        with pytest.raises(RuntimeError):
            async with session.begin_nested():
                await session.execute(text("SELECT 1"))
                events.record(session, "routing.reservation.created", reservation_id=9)
                raise RuntimeError("the insert conflicted")
        events.record(session, "telephony.call.ended", call_id=1)
        await session.commit()
        names = [(await asyncio.wait_for(heard.__anext__(), 2)).name for _ in range(2)]
        await _settle()
        assert heard.queue.empty()
    assert names == ["telephony.call.started", "telephony.call.ended"]


async def test_a_failing_follow_up_is_logged_and_harms_no_other(
    sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
):
    ran: list[str] = []

    async def broken() -> None:
        raise RuntimeError("Twilio is down")

    async def fine() -> None:
        ran.append("fine")

    async with sessions() as session:
        await session.execute(text("SELECT 1"))
        unit_of_work.after_commit(session, broken)
        unit_of_work.after_commit(session, fine)
        await session.commit()
        await _settle()
    assert ran == ["fine"]
    assert "unit_of_work.follow_up.failed" in [record.message for record in caplog.records]


async def test_draining_waits_for_this_loops_follow_ups_only(
    sessions: async_sessionmaker[AsyncSession], database_url: str
):
    """The worker runs each job in a thread with a loop of its own: a job finishing must
    not wait for (or trip over) another thread's follow-ups."""
    started = threading.Event()

    async def slow() -> None:
        started.set()
        await asyncio.sleep(1.5)

    async def other_thread() -> None:
        engine = create_engine(database_url)
        async with create_sessionmaker(engine)() as session:
            await session.execute(text("SELECT 1"))
            unit_of_work.after_commit(session, slow)
            await session.commit()
            await unit_of_work.drain(within=5)  # its own: waits for `slow`
        await engine.dispose()

    elsewhere = threading.Thread(target=asyncio.run, args=(other_thread(),))
    elsewhere.start()
    assert await asyncio.to_thread(started.wait, 5)
    began = time.perf_counter()
    await unit_of_work.drain(within=5)
    assert time.perf_counter() - began < 0.5
    await asyncio.to_thread(elsewhere.join, 10)

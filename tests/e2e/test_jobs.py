"""Timers the app queues for the worker: an offer rung through the emulator is queued to
time out, and the worker's run of that job ends an offer Twilio never told us about, frees
the agent and leaves the call to be offered again. The queue is huey's real SQLite store."""

from __future__ import annotations

import asyncio
import datetime as dt

from builders import make_offer, waiting_call
from huey import Huey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter import jobs
from callcenter.config import Settings
from callcenter.flows import offers
from callcenter.routing import agents, tasks
from callcenter.routing.models import Reservation, ReservationStatus, RoutingState
from callcenter.worker import build_huey
from e2e.conftest import Centre


def _queued_timeouts(huey: Huey) -> list[tuple[int, dt.datetime]]:
    """(reservation id, when) of each offer timeout waiting in the worker's queue."""
    found = []
    # A delayed task waits in the queue until a consumer moves it to the schedule.
    for task in [*huey.pending(), *huey.scheduled()]:
        name, kwargs = task.args
        if task.name == jobs.TASK_NAME and name == offers.OFFER_TIMEOUT:
            found.append((kwargs["reservation_id"], task.eta))
    return found


async def test_ringing_an_agent_queues_its_offer_timeout(centre: Centre, settings: Settings):
    await centre.add_agent(talk_seconds=5)
    rung = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    report = await centre.call([{"press": "2"}])
    assert report["status"] == "completed"
    call = await centre.settled(report["sid"])

    queued = _queued_timeouts(build_huey(settings))
    task = await tasks.voice_task(centre.db, call_id=call.id)
    assert task is not None
    offered = await centre.db.scalars(select(Reservation.id).where(Reservation.task_id == task.id))
    assert [entry[0] for entry in queued] == list(offered)
    limit = settings.agent_ring_seconds + offers.RING_GRACE.total_seconds()
    due_in = (queued[0][1] - rung).total_seconds()
    assert limit - 5 <= due_in <= limit + 30, due_in


async def test_the_worker_ends_an_offer_left_ringing(
    centre: Centre, settings: Settings, db_session: AsyncSession
):
    """The instance that rang the agent died and Twilio's callback never came: when the
    timer fires, the worker closes the offer, frees the agent and offers the call on."""
    agent = await centre.add_agent()
    _call, task = await waiting_call(db_session, sid="CA" + "5" * 32)
    reservation = await make_offer(db_session, task=task, agent=agent)
    reservation.created_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)
    reservation_id, agent_id = reservation.id, agent.id
    await db_session.commit()

    huey = build_huey(settings)  # the worker's
    queue = jobs.build_queue(settings)  # the app's side
    await queue.enqueue(offers.OFFER_TIMEOUT, reservation_id=reservation_id)
    task = huey.dequeue()
    assert task is not None
    expired = await asyncio.to_thread(huey.execute, task)  # as the worker's consumer does

    assert expired is True
    db_session.expire_all()
    reservation = await tasks.get_reservation(db_session, reservation_id=reservation_id)
    assert reservation is not None and reservation.status == ReservationStatus.failed
    freed = await agents.get_agent(db_session, agent_id=agent_id)
    assert freed is not None and freed.routing_state == RoutingState.idle
    # Run again (a retry, or the offer had ended normally): nothing more happens.
    await queue.enqueue(offers.OFFER_TIMEOUT, reservation_id=reservation_id)
    again = huey.dequeue()
    assert again is not None
    assert await asyncio.to_thread(huey.execute, again) is False


async def test_a_job_is_queued_only_once_its_transaction_commits(
    settings: Settings, db_session: AsyncSession
):
    queue = jobs.build_queue(settings)
    queue.after_commit(db_session, offers.OFFER_TIMEOUT, delay=60, reservation_id=1)
    await db_session.rollback()
    queue.after_commit(db_session, offers.OFFER_TIMEOUT, delay=60, reservation_id=2)
    await agents.anyone_free(db_session)
    await db_session.commit()
    for _ in range(100):
        if _queued_timeouts(queue.huey):
            break
        await asyncio.sleep(0.02)
    assert [reservation_id for reservation_id, _eta in _queued_timeouts(queue.huey)] == [2]

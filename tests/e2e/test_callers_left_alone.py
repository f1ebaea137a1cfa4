"""The watchdog's repair of a caller left alone in their conference.

An agent takes a waiting caller; the caller reaches the conference only after the agent
has left it, and the hang-up that should follow the agent's leaving was lost with the
instance that owed it (killed between its commit and the REST call). The caller would wait
alone for ever; past a short grace the watchdog hangs up, as the lost hang-up would have.

The emulator runs on the wall clock here: on the virtual one, a caller alone in a
conference with nothing else going on reaches the four-hour call limit at once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from builders import make_agent, make_offer
from quart import Quart

from callcenter.flows import watchdog
from callcenter.routing import agents as routing
from callcenter.routing import tasks
from callcenter.routing.models import ReservationStatus, RoutingState, TaskStatus
from e2e.conftest import Centre
from e2e.test_routing import SUPPORT, eventually, waiting_task
from twilio_emulator import Emulator

EMULATOR_CLOCK = "wall"


async def _left_alone(
    centre: Centre, emulator: Emulator, tel: Any, sid: str, *, ago: dt.timedelta
) -> None:
    """The race the watchdog mends: an agent takes the waiting caller, the caller reaches
    the conference only after the agent has left it (so it is theirs alone), and the
    hang-up that should follow the agent's leaving, `ago`, was lost with the instance
    that owed it."""
    task = await waiting_task(centre, sid)
    agent = await make_agent(centre.db)
    reservation = await make_offer(centre.db, task=task, agent=agent)
    tasks.accept(reservation, task)
    await routing.answered(centre.db, agent_id=agent.id, task_id=task.id)
    queue_sid, reservation_id = task.twilio_queue_sid, reservation.id
    await centre.db.commit()
    assert queue_sid is not None
    await tel.gateway.dequeue(
        queue_sid=queue_sid, call_sid=sid, url=tel.urls.caller_connect(reservation_id)
    )

    async def in_conference() -> bool:
        return emulator.engine.calls[sid].in_conference

    await eventually(in_conference, what="the caller in their conference")
    tasks.close(reservation, status=ReservationStatus.completed)
    reservation.ended_at = dt.datetime.now(dt.UTC) - ago
    await routing.task_done(
        centre.db, agent_id=agent.id, task_id=task.id, wrapup_seconds=0, talk_seconds=30
    )
    tasks.set_status(task, TaskStatus.completed, reason="answered")
    await centre.db.commit()


async def test_a_caller_left_alone_in_the_conference_is_hung_up(
    centre: Centre, emulator: Emulator, app: Quart
):
    tel = app.extensions["callcenter"].telephony
    busy = await make_agent(centre.db)  # someone signed in, so callers wait in line
    busy.routing_state = RoutingState.on_call
    await centre.db.commit()
    recent, long_ago = await asyncio.gather(
        centre.dial(SUPPORT, from_="+14155550191"), centre.dial(SUPPORT, from_="+14155550192")
    )
    await _left_alone(centre, emulator, tel, recent, ago=dt.timedelta(seconds=2))
    await _left_alone(centre, emulator, tel, long_ago, ago=dt.timedelta(minutes=1))

    await watchdog.patrol(tel)
    assert emulator.engine.calls[long_ago].status == "completed"
    assert emulator.engine.calls[recent].in_conference, "still within the grace"

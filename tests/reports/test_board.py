"""The live board's snapshot: what a supervisor reads off it, and who may read it."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from builders import make_agent, make_offer, make_queue, make_user, sign_in, waiting_call
from quart.testing import QuartClient
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.accounts.models import Role
from callcenter.db import utcnow
from callcenter.reports import board
from callcenter.routing import agents, tasks
from callcenter.routing.models import Activity, TaskStatus


async def _answered(
    session: AsyncSession, *, sid: str, waited: int, handled: int, days_ago: int = 0
) -> None:
    """A caller who waited `waited` s, then talked and wrapped up for `handled` s."""
    done = utcnow() - dt.timedelta(days=days_ago)
    _call, task = await waiting_call(
        session, sid=sid, entered_at=done - dt.timedelta(seconds=waited + handled)
    )
    task.assigned_at = done - dt.timedelta(seconds=handled)
    task.wait_seconds = waited
    task.completed_at = done
    task.status = TaskStatus.completed
    task.reason = "answered"


def _midday() -> ZoneInfo:
    """A zone where it is about noon now, so "today" holds the calls of the last minutes
    whenever the suite runs (in UTC, a run just after midnight counted them as yesterday)."""
    offset = 12 - utcnow().hour
    return ZoneInfo(f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}" if offset else "Etc/GMT")


async def test_the_board_counts_todays_calls_and_shows_who_waits_and_who_works(
    db_session: AsyncSession,
):
    await make_queue(db_session, name="support", service_level_seconds=20)
    await _answered(db_session, sid="CA" + "1" * 32, waited=10, handled=100)
    await _answered(db_session, sid="CA" + "2" * 32, waited=30, handled=200)
    await _answered(db_session, sid="CA" + "4" * 32, waited=5, handled=10, days_ago=1)
    _gone, abandoned = await waiting_call(db_session, sid="CA" + "3" * 32)
    tasks.set_status(abandoned, TaskStatus.canceled, reason="abandoned")
    start = utcnow() - dt.timedelta(seconds=19)
    _call, ringing = await waiting_call(db_session, sid="CA" + "5" * 32, entered_at=start)
    _call, urgent = await waiting_call(
        db_session, sid="CA" + "6" * 32, entered_at=start + dt.timedelta(seconds=5), priority=5,
    )
    on_call = await make_agent(db_session)
    await make_offer(db_session, task=ringing, agent=on_call)
    resting = await make_agent(db_session)
    await agents.set_activity(db_session, agent=resting, activity=Activity.on_break, reason="lunch")
    await make_agent(db_session, available=False)
    await db_session.flush()

    snapshot = await board.snapshot(db_session, now=utcnow(), zone=_midday())

    support = next(q for q in snapshot["queues"] if q["name"] == "support")
    assert support["waiting"] == 2
    assert support["longest_wait_seconds"] >= 19
    assert support["at_risk"], "19 s of a 20 s threshold is past 80%"
    assert support["agents"] == {
        "available": 0, "ringing": 1, "on-call": 0, "wrap-up": 0, "break": 1, "offline": 1,
    }
    assert support["today"] == {
        "offered": 5,  # two answered, one abandoned, two in line; yesterday's not counted
        "answered": 2,
        "abandoned": 1,
        "service_level": round(1 / 3, 4),  # one of three answered within 20 s
        "average_answer_seconds": 20,
        "average_handle_seconds": 150,
        "abandonment_rate": 0.2,
    }
    # The urgent caller first, the one being offered marked as ringing.
    assert [(w["task_id"], w["ringing"]) for w in snapshot["waiting"]] == [
        (urgent.id, False), (ringing.id, True),
    ]
    rows = {row["id"]: row for row in snapshot["agents"]}
    assert (rows[on_call.id]["state"], rows[on_call.id]["call"]["number"]) == (
        "ringing", "+14155550100",
    )
    assert (rows[resting.id]["state"], rows[resting.id]["break_reason"]) == ("break", "lunch")
    assert snapshot["all"]["waiting"] == 2
    assert snapshot["all"]["today"] == support["today"], "the other queues had no calls"


def test_today_starts_at_midnight_in_the_centres_time_zone():
    now = dt.datetime(2026, 12, 2, 3, 0, tzinfo=dt.UTC)
    assert board.start_of_day(now, ZoneInfo("UTC")) == dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
    # 3:00 UTC is 22:00 the day before in New York (UTC-5 in December).
    assert board.start_of_day(now, ZoneInfo("America/New_York")) == dt.datetime(
        2026, 12, 1, 5, 0, tzinfo=dt.UTC
    )


@pytest.mark.parametrize("path", ["/board", "/board/snapshot", "/board/events"])
async def test_an_agent_is_refused_the_board_and_its_stream(
    client: QuartClient, db_session: AsyncSession, path: str
):
    agent = await make_user(db_session, role=Role.agent)
    await db_session.commit()
    await sign_in(client, email=agent.email)
    response = await client.get(path)
    assert response.status_code == 403


async def test_a_supervisor_reads_the_snapshot(client: QuartClient, db_session: AsyncSession):
    supervisor = await make_user(db_session, role=Role.supervisor)
    await make_queue(db_session, name="support")
    await db_session.commit()
    await sign_in(client, email=supervisor.email)
    response = await client.get("/board/snapshot")
    assert response.status_code == 200
    picture = await response.get_json()
    assert "support" in [q["name"] for q in picture["queues"]]
    assert (await client.get("/board")).status_code == 200

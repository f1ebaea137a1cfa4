"""The routing decision and the line it reads: who is offered what, in any size of centre."""

from __future__ import annotations

import datetime as dt

import pytest
from builders import make_agent, make_queue, waiting_call
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.db import utcnow
from callcenter.routing import decisions, queues, tasks
from callcenter.routing.models import Agent, RoutingState, Strategy


async def _set(session: AsyncSession, agent_id: int, **values: object) -> None:
    await session.execute(
        update(Agent).where(Agent.id == agent_id).values(**values)
        .execution_options(synchronize_session=False)
    )


async def test_ring_all_rings_every_eligible_free_agent_however_many(db_session: AsyncSession):
    """More free agents than one batch of candidates, some unsuitable: every suitable one
    is claimed, none twice."""
    queue = await make_queue(db_session, name="urgent", strategy=Strategy.ring_all)
    suitable = [await make_agent(db_session, skills={"support": 1}) for _ in range(20)]
    for _ in range(decisions.BATCH):
        await make_agent(db_session)  # no support skill: the task below requires it
    _call, task = await waiting_call(
        db_session, queue="urgent", attributes={"required_skills": ["support"]}
    )
    claimed = await decisions.choose(db_session, task=task, queue=queue)
    assert sorted(claimed) == sorted(agent.id for agent in suitable)


@pytest.mark.parametrize("strategy", [Strategy.longest_idle, Strategy.fewest_calls])
async def test_a_task_only_the_last_free_agent_suits_reaches_them(
    db_session: AsyncSession, strategy: Strategy
):
    """Many free agents ahead of the one who speaks the caller's language: the decision
    reads on, batch after batch, until it reaches them."""
    queue = await make_queue(db_session, name="support", strategy=strategy)
    start = utcnow() - dt.timedelta(hours=2)
    ahead = decisions.FEW + decisions.BATCH * 4 + 3  # past the first two batches
    for minute in range(ahead):
        agent = await make_agent(db_session, languages=["en"])
        await _set(db_session, agent.id, idle_since=start + dt.timedelta(minutes=minute))
    speaker = await make_agent(db_session, languages=["ko"])
    _call, task = await waiting_call(db_session, queue="support", attributes={"language": "ko"})
    assert await decisions.choose(db_session, task=task, queue=queue) == [speaker.id]


@pytest.mark.parametrize(
    "strategy", [Strategy.longest_idle, Strategy.fewest_calls, Strategy.round_robin]
)
async def test_an_agent_whose_wrap_up_ran_out_is_chosen_in_their_turn(
    db_session: AsyncSession, strategy: Strategy
):
    """Wrap-up over but not yet ended by anything: free, and first when idle longest."""
    queue = await make_queue(db_session, name="support", strategy=strategy)
    idle = await make_agent(db_session)
    wrapped = await make_agent(db_session)
    still = await make_agent(db_session)
    now = utcnow()
    await _set(db_session, idle.id, idle_since=now - dt.timedelta(minutes=1))
    await _set(db_session, wrapped.id, routing_state=RoutingState.wrap_up,
               wrapup_until=now - dt.timedelta(seconds=5), idle_since=now - dt.timedelta(hours=1))
    await _set(db_session, still.id, routing_state=RoutingState.wrap_up,
               wrapup_until=now + dt.timedelta(minutes=5), idle_since=now - dt.timedelta(hours=2))
    _call, task = await waiting_call(db_session, queue="support")
    found = await decisions.candidates(db_session, queue=queue, exclude=set(), limit=10)
    assert still.id not in [agent.id for agent in found]
    if strategy != Strategy.round_robin:  # round robin goes by the queue's last offers
        assert [agent.id for agent in found] == [wrapped.id, idle.id]
    assert await decisions.choose(db_session, task=task, queue=queue) == [found[0].id]


async def test_a_long_line_whose_agents_are_busy_does_not_hide_a_caller_another_queue_can_take(
    db_session: AsyncSession,
):
    await make_queue(db_session, name="support", expression='skills HAS "support"')
    await make_queue(db_session, name="sales", expression='skills HAS "sales"')
    for number in range(5):
        await waiting_call(db_session, sid=f"CA{number:032d}", queue="support")
    _call, sales = await waiting_call(db_session, sid="CA" + "f" * 32, queue="sales")
    await make_agent(db_session, skills={"sales": 1})
    line = await tasks.waiting_line(db_session, limit=3)
    assert [(w.task_id, w.queue_id) for w in line] == [(sales.id, sales.queue_id)]


async def test_the_line_reads_on_page_after_page_in_order_across_queues(
    db_session: AsyncSession,
):
    """Priority first, then age, whichever queue a task waits in; a page read on from the
    last task of the one before continues the order exactly, and a queue nobody free
    serves never shows."""
    await make_queue(db_session, name="support", expression='skills HAS "support"')
    await make_queue(db_session, name="sales", expression='skills HAS "sales"')
    await make_queue(db_session, name="billing", expression='skills HAS "billing"')
    await make_agent(db_session, skills={"support": 1, "sales": 1})
    start = utcnow() - dt.timedelta(minutes=30)
    made = {}
    for name, queue, priority, minute in (
        ("support-old", "support", 0, 0), ("sales-urgent", "sales", 5, 3),
        ("sales-mid", "sales", 0, 1), ("support-new", "support", 0, 2),
        ("sales-same-time", "sales", 0, 2), ("billing", "billing", 9, 0),
    ):
        _call, task = await waiting_call(
            db_session, sid=f"CA{len(made):032d}", queue=queue, priority=priority,
            entered_at=start + dt.timedelta(minutes=minute),
        )
        made[task.id] = name
    first = await tasks.waiting_line(db_session, limit=2)
    second = await tasks.waiting_line(db_session, limit=2, after=first[-1])
    # Same priority and entry time as the page's last: told apart by id, not skipped.
    third = await tasks.waiting_line(db_session, limit=2, after=second[-1])
    assert [made[w.task_id] for w in first] == ["sales-urgent", "support-old"]
    assert [made[w.task_id] for w in second] == ["sales-mid", "support-new"]
    assert [made[w.task_id] for w in third] == ["sales-same-time"]


async def test_the_line_reads_every_queue_however_many_are_staffed(db_session: AsyncSession):
    """More staffed queues than one statement merges (SQLite refuses a UNION of over 500
    parts): the line still comes in order across all of them."""
    count = tasks._QUEUES_AT_ONCE * 2 + 1
    for number in range(count):
        await make_queue(db_session, name=f"q{number}")
    await make_agent(db_session)
    start = utcnow() - dt.timedelta(minutes=30)
    expected = []
    for number in range(count):
        _call, task = await waiting_call(
            db_session, sid=f"CA{number:032d}", queue=f"q{number}",
            entered_at=start + dt.timedelta(seconds=count - number),
        )
        expected.append(task.id)
    line = await tasks.waiting_line(db_session, limit=3)
    assert [w.task_id for w in line] == expected[::-1][:3]


async def test_a_circle_of_overflows_is_refused_with_the_chain(db_session: AsyncSession):
    first = await make_queue(db_session, name="first")
    await make_queue(db_session, name="second", overflow="first")
    with pytest.raises(queues.QueueError) as refused:
        await queues.update_queue(db_session, queue=first, overflow="second")
    assert refused.value.field == "overflow"
    assert "first -> second -> first" in refused.value.reason

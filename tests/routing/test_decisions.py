"""The routing decision and the line it reads: who is offered what, in any size of centre."""

from __future__ import annotations

import pytest
from builders import make_agent, make_queue, waiting_call
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.routing import decisions, queues, tasks
from callcenter.routing.models import Strategy


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


async def test_a_long_line_whose_agents_are_busy_does_not_hide_a_caller_another_queue_can_take(
    db_session: AsyncSession,
):
    await make_queue(db_session, name="support", expression='skills HAS "support"')
    await make_queue(db_session, name="sales", expression='skills HAS "sales"')
    for number in range(5):
        await waiting_call(db_session, sid=f"CA{number:032d}", queue="support")
    _call, sales = await waiting_call(db_session, sid="CA" + "f" * 32, queue="sales")
    await make_agent(db_session, skills={"sales": 1})
    assert await tasks.waiting_line(db_session, limit=3) == [(sales.id, sales.queue_id)]


async def test_a_circle_of_overflows_is_refused_with_the_chain(db_session: AsyncSession):
    first = await make_queue(db_session, name="first")
    await make_queue(db_session, name="second", overflow="first")
    with pytest.raises(queues.QueueError) as refused:
        await queues.update_queue(db_session, queue=first, overflow="second")
    assert refused.value.field == "overflow"
    assert "first -> second -> first" in refused.value.reason

"""A flow may only send callers to queues that exist: refused when it loads, naming the node."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import make_queue
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.flows import queues as flow_queues
from callcenter.ivr import flow as ivr_flow
from callcenter.routing import queues

DEFAULT_FLOW = Path(__file__).resolve().parents[2] / "ivr" / "default.yaml"


async def test_a_first_start_makes_the_flows_queues_open_to_everyone(db_session: AsyncSession):
    await flow_queues.check(db_session, flow=ivr_flow.load(DEFAULT_FLOW))
    made = await queues.list_queues(db_session)
    assert [(q.name, q.expression) for q in made] == [
        ("billing", "1==1"), ("support", "1==1"), ("urgent", "1==1")
    ]


async def test_a_flow_naming_a_missing_queue_is_refused_with_the_node(db_session: AsyncSession):
    await make_queue(db_session, name="billing")
    await make_queue(db_session, name="support")
    with pytest.raises(ivr_flow.FlowError) as refused:
        await flow_queues.check(db_session, flow=ivr_flow.load(DEFAULT_FLOW))
    assert refused.value.node == "urgent"
    assert "queue 'urgent' does not exist" in refused.value.reason
    assert "callcenter queue add urgent" in refused.value.reason
    assert {q.name for q in await queues.list_queues(db_session)} == {"billing", "support"}

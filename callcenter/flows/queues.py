"""The IVR flow's queues as routing knows them: a flow may only send callers to queues that
exist, so a typo in a queue node is refused when the flow loads, not found by a caller."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.ivr.flow import Flow, FlowError, queue_names
from callcenter.routing import queues


async def check(session: AsyncSession, *, flow: Flow) -> None:
    """Refuse a flow naming a queue that does not exist (FlowError names the node).

    A database with no queues at all is a first start: the flow's queues are made, open to
    every agent, so the shipped flow works out of the box."""
    wanted = queue_names(flow)
    missing = await queues.ensure(session, names_wanted=set(wanted))
    if missing:
        name = sorted(missing)[0]
        raise FlowError(
            wanted[name],
            f"queue {name!r} does not exist: create it (`callcenter queue add {name}`, the "
            "admin page or the API) or send the node to another queue",
        )

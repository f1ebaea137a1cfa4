"""Reading the agent state log: what a supervisor looks at to see how an agent's day went."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.routing.models import AgentStateLog


async def recent(session: AsyncSession, *, agent_id: int, limit: int) -> list[AgentStateLog]:
    """The agent's last `limit` changes of activity or routing state, newest first (rows of
    one instant in the order they were written, the later first)."""
    rows = await session.scalars(
        select(AgentStateLog)
        .where(AgentStateLog.agent_id == agent_id)
        .order_by(AgentStateLog.at.desc(), AgentStateLog.id.desc())
        .limit(limit)
    )
    return list(rows)

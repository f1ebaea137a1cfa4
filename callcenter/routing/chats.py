"""Chats as routing tasks: which agent a waiting chat goes to.

A chat is not rung: it is assigned, and appears on the agent's page and ticket at once
(Zendesk's and Chatwoot's auto-assignment). An agent takes chats while they are free for
calls (available, on no call), up to their chat capacity (`capacity["chat"]`,
`CHAT_CAPACITY` when not set); a call they take meanwhile does not end their chats. Among
the queue's free members who suit the chat, the one with the fewest chats open gets it
(the queue's strategy breaks ties), so three chats for three agents go one each.

The agent's row is locked while their chats are counted, so two instances assigning at
once never give an agent more than their capacity.
"""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.channels.chat.models import ChatConversation, ConversationStatus
from callcenter.db import utcnow
from callcenter.routing import decisions, queues, tasks
from callcenter.routing.models import (
    CHAT_CAPACITY,
    Activity,
    Agent,
    Task,
    TaskQueue,
    TaskStatus,
    free_now,
)

# How many of the queue's free members one assignment weighs.
LOOK_AT = 50


def capacity(agent: Agent) -> int:
    return (agent.capacity or {}).get("chat", CHAT_CAPACITY)


async def open_chats(session: AsyncSession, *, agent_ids: list[int]) -> dict[int, int]:
    """How many chats each agent has open now."""
    rows = await session.execute(
        select(ChatConversation.agent_id, func.count())
        .where(ChatConversation.agent_id.in_(agent_ids),
               ChatConversation.status == ConversationStatus.active)
        .group_by(ChatConversation.agent_id)
    )
    return {agent_id: count for agent_id, count in rows}


async def choose(session: AsyncSession, *, task: Task, queue: TaskQueue) -> int | None:
    """The agent the waiting chat `task` goes to, or None when everyone who could take it
    is busy or full. The task is assigned to them (the caller records the conversation's
    agent in the same transaction)."""
    now = utcnow()
    walk = decisions.suitable(
        session, task=task, queue=queue, narrower=None, exclude=set(), now=now
    )
    order: list[int] = []
    async for candidate in walk:
        order.append(candidate.id)
        if len(order) == LOOK_AT:
            break
    await walk.aclose()
    if not order:
        return None
    counts = await open_chats(session, agent_ids=order)
    for agent_id in sorted(order, key=lambda a: (counts.get(a, 0), order.index(a))):
        agent = await session.scalar(
            select(Agent).where(Agent.id == agent_id, free_now(now)).with_for_update()
            .execution_options(populate_existing=True)
        )
        if agent is None:
            continue  # on a call or away since they were read
        held = (await open_chats(session, agent_ids=[agent_id])).get(agent_id, 0)
        if held < capacity(agent):
            tasks.set_status(task, TaskStatus.assigned)
            return agent_id
    return None


async def anyone_available(session: AsyncSession, *, queue_id: int | None) -> bool:
    """Whether any agent of the chat queue (every agent, before the queue is made) who
    takes chats is available, busy or not."""
    chat_places = Agent.capacity["chat"].as_integer()
    query = select(Agent.id).where(
        Agent.activity == Activity.available,
        or_(chat_places.is_(None), chat_places > 0),
    ).limit(1)
    if queue_id is not None:
        query = query.where(Agent.id.in_(queues.members(queue_id)))
    return await session.scalar(query) is not None

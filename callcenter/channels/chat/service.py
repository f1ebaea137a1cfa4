"""Chat visitors and conversations: who a browser is, and the chat it is in.

A visitor's token is made here and handed to the widget once; afterwards only its hash is
looked up. What a conversation says lives on its ticket's timeline (chat events carrying
the conversation's id); this module keeps where each chat stands and says so on the event
bus (`chat.*`), which the widget's socket and the agent's pages listen to.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter import events
from callcenter.channels.chat.models import ChatConversation, ChatVisitor, ConversationStatus
from callcenter.db import utcnow
from callcenter.tickets.models import Ticket, TicketEvent, TicketEventKind

OPEN = (ConversationStatus.waiting, ConversationStatus.active)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def visitor_by_token(session: AsyncSession, *, token: str) -> ChatVisitor | None:
    if not token or len(token) > 100:
        return None
    return await session.scalar(select(ChatVisitor).where(ChatVisitor.token_hash == _hash(token)))


async def visitor_by_id(
    session: AsyncSession, *, visitor_id: int, lock: bool = False
) -> ChatVisitor | None:
    """The visitor; `lock`: their row held, so two tabs of theirs act one after the other
    (never two chats started at once)."""
    query = select(ChatVisitor).where(ChatVisitor.id == visitor_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


async def new_visitor(session: AsyncSession, *, origin: str) -> tuple[ChatVisitor, str]:
    """A visitor seen for the first time, and the token that brings them back."""
    token = secrets.token_urlsafe(32)
    visitor = ChatVisitor(
        public_id=f"v-{secrets.token_hex(8)}", token_hash=_hash(token), origin=origin[:300],
        name="", last_seen_at=utcnow(),
    )
    session.add(visitor)
    await session.flush()
    return visitor, token


async def current(session: AsyncSession, *, visitor_id: int) -> ChatConversation | None:
    """The visitor's chat that has not ended, if any."""
    return await session.scalar(
        select(ChatConversation)
        .where(ChatConversation.visitor_id == visitor_id, ChatConversation.status.in_(OPEN))
        .order_by(ChatConversation.id.desc()).limit(1)
    )


async def get(
    session: AsyncSession, *, conversation_id: int, lock: bool = False
) -> ChatConversation | None:
    query = select(ChatConversation).where(ChatConversation.id == conversation_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


async def open_on_ticket(
    session: AsyncSession, *, ticket_id: int, lock: bool = False
) -> ChatConversation | None:
    """The ticket's chat that has not ended (the one an agent's chat reply goes to)."""
    query = (
        select(ChatConversation)
        .where(ChatConversation.ticket_id == ticket_id, ChatConversation.status.in_(OPEN))
        .order_by(ChatConversation.id.desc()).limit(1)
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


async def live_for_customer(session: AsyncSession, *, customer_id: int) -> bool:
    """Whether a chat not ended is on one of the customer's tickets."""
    found = await session.scalar(
        select(ChatConversation.id)
        .join(Ticket, Ticket.id == ChatConversation.ticket_id)
        .where(Ticket.requester_id == customer_id, ChatConversation.status.in_(OPEN))
        .limit(1)
    )
    return found is not None


async def move_ticket(session: AsyncSession, *, from_id: int, to_id: int) -> None:
    """A merged ticket's chats go on with the ticket it was merged into."""
    await session.execute(
        update(ChatConversation).where(ChatConversation.ticket_id == from_id)
        .values(ticket_id=to_id)
    )


async def of_agent(session: AsyncSession, *, agent_id: int) -> list[ChatConversation]:
    """The agent's chats in progress, oldest first."""
    return list(await session.scalars(
        select(ChatConversation)
        .where(ChatConversation.agent_id == agent_id,
               ChatConversation.status == ConversationStatus.active)
        .order_by(ChatConversation.id)
    ))


async def start(
    session: AsyncSession, *, visitor: ChatVisitor, ticket_id: int, task_id: int,
    identity_kind: str, sender: str,
) -> ChatConversation:
    conversation = ChatConversation(
        visitor_id=visitor.id, ticket_id=ticket_id, task_id=task_id,
        status=ConversationStatus.waiting, identity_kind=identity_kind, sender=sender,
        created_at=utcnow(),
    )
    session.add(conversation)
    await session.flush()
    return conversation


def _said(session: AsyncSession, name: str, conversation: ChatConversation, **data: object) -> None:
    events.record(
        session, name, conversation_id=conversation.id, ticket_id=conversation.ticket_id,
        agent_id=conversation.agent_id, **data,
    )


def message_added(session: AsyncSession, conversation: ChatConversation, *, event_id: int) -> None:
    """A message of this chat is on the timeline: the visitor and the agent see it."""
    _said(session, "chat.message", conversation, event_id=event_id)


def _work_changed(session: AsyncSession, agent_id: int | None) -> None:
    if agent_id is not None:
        events.record(session, "routing.agent.work_changed", agent_id=agent_id)


async def assigned(session: AsyncSession, *, task_id: int, agent_id: int) -> None:
    """Routing gave the chat of `task_id` to the agent."""
    conversation = await session.scalar(
        select(ChatConversation).where(ChatConversation.task_id == task_id)
    )
    if conversation is None:
        return
    take(session, conversation, agent_id=agent_id)


def take(session: AsyncSession, conversation: ChatConversation, *, agent_id: int) -> None:
    """The agent has the chat now."""
    conversation.agent_id = agent_id
    conversation.status = ConversationStatus.active
    _said(session, "chat.assigned", conversation)
    _work_changed(session, agent_id)


def close(session: AsyncSession, conversation: ChatConversation, *, by: str) -> None:
    """The chat ended (`by` the visitor or the agent); it stays on the timeline."""
    conversation.status = ConversationStatus.closed
    conversation.closed_at = utcnow()
    conversation.closed_by = by
    _said(session, "chat.closed", conversation, by=by)
    _work_changed(session, conversation.agent_id)


async def messages(session: AsyncSession, conversation: ChatConversation) -> list[TicketEvent]:
    """What was said in the chat, in order (its ticket's chat entries that carry it)."""
    found = await session.scalars(
        select(TicketEvent)
        .where(TicketEvent.ticket_id == conversation.ticket_id,
               TicketEvent.kind == TicketEventKind.chat)
        .order_by(TicketEvent.id)
    )
    return [event for event in found if event.data.get("conversation_id") == conversation.id]


async def seen(session: AsyncSession, *, visitor_id: int) -> None:
    await session.execute(
        update(ChatVisitor).where(ChatVisitor.id == visitor_id).values(last_seen_at=utcnow())
    )

"""Web chat from the widget to the timeline and back.

A visitor's first message starts a conversation: it lands through `flows.contacts` like any
written contact (the customer found by the email or number the visitor gave, else by their
chat id; the blocklist; the customer's open ticket or a new one), and becomes a routing
task in the chat queue, which dispatch assigns to an agent with room for another chat
(`routing.chats`). Later messages land on the same ticket, once per message id (a message
the widget sent twice, after a dropped connection, is one entry). Agents answer from the
ticket page (`reply`); the visitor's socket hears of it on the event bus.

When nobody who serves the chat queue is available, the widget offers to leave a message
instead (`leave_message`), which opens an email-channel ticket: the agent answers it by
email.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from callcenter import unit_of_work
from callcenter.accounts import service as accounts
from callcenter.channels.chat import service as chat
from callcenter.channels.chat.models import ChatConversation, ChatVisitor, ConversationStatus
from callcenter.customers import phones
from callcenter.customers import service as customers
from callcenter.customers.models import IdentityKind
from callcenter.flows import Telephony, contacts, offers
from callcenter.routing import agents, chats, queues, tasks
from callcenter.routing.models import Task, TaskChannel, TaskStatus
from callcenter.tickets import service as tickets
from callcenter.tickets.models import Channel, Ticket, TicketEvent, TicketEventKind

log = logging.getLogger("callcenter.flows.chat")


class ChatRefused(ValueError):
    """What the visitor asked cannot be done; the message says why, for the widget."""


@dataclass(frozen=True)
class About:
    """What a visitor tells us of themselves when they start (all optional)."""

    name: str = ""
    email: str = ""
    phone: str = ""


def _identity(visitor: ChatVisitor, about: About, *, region: str) -> tuple[IdentityKind, str]:
    """Who the chat is from: the email they gave, else their number, else their chat id."""
    if about.email:
        if "@" not in about.email or len(about.email) > 254:
            raise ChatRefused("That email address does not look right.")
        return IdentityKind.email, about.email.strip().lower()
    if about.phone:
        number = phones.to_e164(about.phone, region=region)
        if number is None:
            raise ChatRefused("That phone number does not look right.")
        return IdentityKind.phone, number
    return IdentityKind.chat, visitor.public_id


async def _link(
    session: AsyncSession, customer_id: int, kind: IdentityKind, value: str, *, region: str
) -> None:
    """The customer is recognised by this identity from now on, unless another customer
    already is (then the two stay apart: an agent merges them if they are one person)."""
    if await customers.find_by_identity(session, kind=kind, value=value) is None:
        customer = await customers.get(session, customer_id=customer_id)
        assert customer is not None
        await customers.add_identity(session, customer=customer, kind=kind, value=value,
                                     region=region)


async def _queue(session: AsyncSession, name: str) -> Any:
    """The chat queue, made (open to every agent) the first time a chat needs it."""
    queue = await queues.queue_named(session, name=name)
    if queue is None:
        queue = await queues.create_queue(
            session, name=name, description="Web chats", wrapup_seconds=0,
        )
    return queue


async def anyone_online(session: AsyncSession, *, queue_name: str) -> bool:
    """Whether someone who serves the chat queue is available (busy or not): if nobody is,
    the widget offers to leave a message."""
    queue = await queues.queue_named(session, name=queue_name)
    return await chats.anyone_available(session, queue_id=queue.id if queue else None)


def _external_id(visitor: ChatVisitor, message_id: str) -> str:
    return f"{visitor.public_id}:{message_id[:64]}"


async def start(
    session: AsyncSession, tel: Telephony, *, visitor: ChatVisitor, about: About, body: str,
    message_id: str, queue_name: str, region: str,
) -> ChatConversation | None:
    """The visitor's first message: a conversation on their customer's ticket, waiting for
    an agent. None when the sender is blocklisted (nothing is ticketed)."""
    kind, sender = _identity(visitor, about, region=region)
    if kind != IdentityKind.chat:
        claimed = await customers.find_by_identity(session, kind=kind, value=sender)
        if claimed is not None and await chat.live_for_customer(session, customer_id=claimed.id):
            # That customer is in a chat already (another tab, or someone giving their
            # address): this one is a visitor of its own, on a ticket of its own.
            kind, sender = IdentityKind.chat, visitor.public_id
    name = about.name.strip()[:200]
    data: dict[str, Any] = {"from": "visitor", "visitor": visitor.public_id}
    if kind != IdentityKind.chat:
        data["claimed"] = sender  # typed into the widget: nothing proves it is theirs
    landed = await contacts.land(session, contacts.Contact(
        channel=Channel.chat, kind=TicketEventKind.chat, identity=kind, sender=sender,
        external_id=_external_id(visitor, message_id),
        subject=f"Chat with {name or sender}", body=body, name=name, data=data,
    ))
    if landed.event is None:
        return None
    event = landed.event
    ticket = await tickets.get_ticket(session, ticket_id=event.ticket_id)
    assert ticket is not None
    await _link(session, ticket.requester_id, IdentityKind.chat, visitor.public_id,
                region=region)
    if about.phone and kind == IdentityKind.email:
        number = phones.to_e164(about.phone, region=region)
        if number is not None:
            await _link(session, ticket.requester_id, IdentityKind.phone, number, region=region)
    visitor.customer_id = ticket.requester_id
    if name:
        visitor.name = name
    queue = await _queue(session, queue_name)
    task = await tasks.create_task(
        session, channel=TaskChannel.chat, queue=queue,
        attributes={"customer_id": ticket.requester_id, "name": name, "chat": visitor.public_id},
    )
    task.ticket_id = ticket.id
    conversation = await chat.start(
        session, visitor=visitor, ticket_id=ticket.id, task_id=task.id,
        identity_kind=kind.value, sender=sender,
    )
    event.data = {**event.data, "conversation_id": conversation.id}
    chat.message_added(session, conversation, event_id=event.id)
    unit_of_work.after_commit(session, offers.dispatch, tel)
    return conversation


async def say(
    session: AsyncSession, *, visitor: ChatVisitor, conversation: ChatConversation, body: str,
    message_id: str,
) -> TicketEvent:
    """The visitor's next message in their chat."""
    landed = await contacts.land(session, contacts.Contact(
        channel=Channel.chat, kind=TicketEventKind.chat,
        identity=IdentityKind(conversation.identity_kind), sender=conversation.sender,
        external_id=_external_id(visitor, message_id), subject="", body=body,
        data={"from": "visitor", "visitor": visitor.public_id,
              "conversation_id": conversation.id},
        ticket_id=conversation.ticket_id,
    ))
    if landed.event is None:
        raise ChatRefused("This chat cannot take messages.")
    chat.message_added(session, conversation, event_id=landed.event.id)
    return landed.event


async def reply(
    session: AsyncSession, ticket: Ticket, *, author_id: int, agent_id: int, body: str
) -> TicketEvent:
    """The agent's message in the ticket's chat; the visitor sees it at once. An agent who
    answers a chat still waiting for someone takes it."""
    found = await chat.open_on_ticket(session, ticket_id=ticket.id)
    conversation = await _locked(session, found) if found is not None else None
    if conversation is None or conversation.status == ConversationStatus.closed:
        raise ValueError("The chat has ended: answer by email or text instead.")
    if conversation.status == ConversationStatus.waiting:
        # They chose to answer it: theirs, whatever their chat places.
        task = await _task(session, conversation)
        if task is not None and task.status == TaskStatus.pending:
            tasks.set_status(task, TaskStatus.assigned)
        chat.take(session, conversation, agent_id=agent_id)
    event = await tickets.add_reply(
        session, ticket, author_id=author_id, kind=TicketEventKind.chat, body=body,
        data={"from": "agent", "conversation_id": conversation.id, "outgoing": True},
    )
    chat.message_added(session, conversation, event_id=event.id)
    return event


async def _locked(session: AsyncSession, conversation: ChatConversation) -> ChatConversation:
    """The conversation locked, its task first: the order routing locks them in (a task,
    then its conversation), so an agent's answer and a dispatch never wait on each other."""
    if conversation.task_id is not None:
        await tasks.get_task(session, task_id=conversation.task_id, lock=True)
    locked = await chat.get(session, conversation_id=conversation.id, lock=True)
    assert locked is not None
    return locked


async def _task(session: AsyncSession, conversation: ChatConversation) -> Task | None:
    """The chat's task (locked already by `_locked`: this reads it from the session)."""
    if conversation.task_id is None:
        return None
    return await tasks.get_task(session, task_id=conversation.task_id)


async def close(
    session: AsyncSession, tel: Telephony, conversation: ChatConversation, *, by: str
) -> bool:
    """The chat ends (the visitor left it, or the agent ended it): its task is done, the
    agent has room for the next chat, and the timeline says it ended. False when it had
    ended already (the other side ended it first)."""
    conversation = await _locked(session, conversation)
    if conversation.status == ConversationStatus.closed:
        return False
    task = await _task(session, conversation)
    if task is not None and task.status.is_open:
        reason = "answered" if conversation.agent_id else "abandoned"
        tasks.set_status(task, TaskStatus.completed, reason=reason)
    chat.close(session, conversation, by=by)
    ticket = await tickets.get_ticket(session, ticket_id=conversation.ticket_id)
    if ticket is not None:
        who = "the visitor" if by == "visitor" else "the agent"
        tickets.add_note(
            session, ticket, author_id=None, body=f"The chat ended: closed by {who}.",
            data={"conversation_id": conversation.id, "chat_ended": by},
        )
    unit_of_work.after_commit(session, offers.dispatch, tel)
    return True


async def leave_message(
    session: AsyncSession, *, visitor: ChatVisitor, about: About, body: str, message_id: str,
    region: str,
) -> TicketEvent | None:
    """Nobody is online: the visitor's message becomes an email-channel ticket, answered by
    email. None when the sender is blocklisted."""
    if not about.email or "@" not in about.email or len(about.email) > 254:
        raise ChatRefused("Leave your email address so that we can answer you.")
    address = about.email.strip().lower()
    name = about.name.strip()[:200]
    first_line = body.strip().splitlines()[0][:80] if body.strip() else "a message"
    landed = await contacts.land(session, contacts.Contact(
        channel=Channel.email, kind=TicketEventKind.email, identity=IdentityKind.email,
        sender=address, external_id=f"chat-message:{_external_id(visitor, message_id)}",
        subject=f"Message from the chat: {first_line}", body=body, name=name,
        data={"from": address, "from_name": name, "via": "left in the chat widget"},
    ))
    if landed.event is not None:
        ticket = await tickets.get_ticket(session, ticket_id=landed.event.ticket_id)
        assert ticket is not None
        await _link(session, ticket.requester_id, IdentityKind.chat, visitor.public_id,
                    region=region)
        visitor.customer_id = ticket.requester_id
    return landed.event


async def chats_of(session: AsyncSession, *, agent_id: int) -> list[dict[str, Any]]:
    """The agent's chats in progress, as their page lists them."""
    found = await chat.of_agent(session, agent_id=agent_id)
    rows = []
    for conversation in found:
        ticket = await tickets.get_ticket(session, ticket_id=conversation.ticket_id)
        assert ticket is not None
        rows.append((conversation, ticket))
    labels = await customers.labels(session, customer_ids={t.requester_id for _c, t in rows})
    return [{
        "conversation_id": conversation.id, "ticket_id": ticket.id, "subject": ticket.subject,
        "customer": labels.get(ticket.requester_id) or conversation.sender,
        "started_at": conversation.created_at.isoformat(),
    } for conversation, ticket in rows]


def first_name(user: Any) -> str:
    """How the visitor knows an agent: their first name, never their address."""
    return (user.name or "").split()[0] if user is not None and user.name else "An agent"


async def agent_name(session: AsyncSession, *, agent_id: int | None) -> str:
    agent = await agents.get_agent(session, agent_id=agent_id) if agent_id else None
    user = await accounts.get(session, user_id=agent.user_id) if agent else None
    return first_name(user)


async def shown(session: AsyncSession, *, event_id: int) -> dict[str, Any] | None:
    """A chat entry as the widget shows it (None when it is not one)."""
    event = await tickets.get_event(session, event_id=event_id)
    if event is None or event.kind != TicketEventKind.chat:
        return None
    return await _as_message(session, event)


async def _as_message(session: AsyncSession, event: TicketEvent) -> dict[str, Any]:
    sender = event.data.get("from", "visitor")
    name = ""
    if sender == "agent":
        name = first_name(await accounts.get(session, user_id=event.author_id)
                           if event.author_id else None)
    external = event.external_id or ""
    return {
        "type": "message", "id": event.id, "client_id": external.partition(":")[2] or None,
        "from": sender, "name": name, "body": event.body, "at": event.created_at.isoformat(),
    }


async def history(session: AsyncSession, conversation: ChatConversation) -> list[dict[str, Any]]:
    """The chat so far, as the widget shows it on (re)connecting."""
    found = await chat.messages(session, conversation)
    return [await _as_message(session, event) for event in found]

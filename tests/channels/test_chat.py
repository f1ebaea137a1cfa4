"""The chat widget's socket, both ways, on both stores: a visitor's chat lands on their
customer's ticket and is assigned to an agent with room for it; the agent's answer and
typing reach the visitor at once; a visitor comes back to the same chat; an agent takes
three chats at once and a fourth waits; nobody online means leaving a message, which
becomes an email ticket; other sites, oversize and fast senders are refused."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from builders import make_agent, make_token
from quart import Quart
from quart.testing import QuartClient
from quart.testing.connections import WebsocketResponseError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.accounts.models import User
from callcenter.blocklist.models import BlockKind, BlocklistEntry
from callcenter.channels.chat.models import ChatConversation, ConversationStatus
from callcenter.customers import service as customers
from callcenter.customers.models import Identity, IdentityKind
from callcenter.routing.models import Agent, RoutingState, Task, TaskStatus
from callcenter.tickets.models import Channel, Ticket, TicketEvent, TicketEventKind

SITE = "https://shop.example"
pytestmark = pytest.mark.settings(chat_allowed_origins=[SITE], chat_messages_per_minute=10)


class Visitor:
    """One browser's socket: what it sends and what it has heard."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.heard: list[dict[str, Any]] = []
        self.welcome: dict[str, Any] = {}

    async def send(self, **frame: Any) -> None:
        await self.socket.send(json.dumps(frame))

    async def hear(self, kind: str, *, within: float = 10, **fields: Any) -> dict[str, Any]:
        """The next frame of `kind` (with these fields), waiting for it."""
        async def wait() -> dict[str, Any]:
            for frame in self.heard:
                if frame["type"] == kind and all(frame.get(k) == v for k, v in fields.items()):
                    self.heard.remove(frame)
                    return frame
            while True:
                frame = json.loads(await self.socket.receive())
                if frame["type"] == kind and all(frame.get(k) == v for k, v in fields.items()):
                    return frame
                self.heard.append(frame)
        return await asyncio.wait_for(wait(), within)


@asynccontextmanager
async def visiting(client: QuartClient, token: str | None = None) -> AsyncIterator[Visitor]:
    async with client.websocket("/chat/socket", headers={"Origin": SITE}) as socket:
        visitor = Visitor(socket)
        await visitor.send(type="hello", token=token)
        visitor.welcome = await visitor.hear("welcome")
        yield visitor


async def _fresh(session: AsyncSession, query: Any) -> list[Any]:
    await session.rollback()
    return list(await session.scalars(query.execution_options(populate_existing=True)))


async def _conversations(session: AsyncSession) -> list[ChatConversation]:
    return await _fresh(session, select(ChatConversation).order_by(ChatConversation.id))


async def _agent_headers(session: AsyncSession, agent: Agent) -> dict[str, str]:
    user = await session.get(User, agent.user_id)
    assert user is not None
    user.name = "Sam Carter"
    token = await make_token(session, user=user)
    await session.commit()
    return {"Authorization": f"Bearer {token}"}


async def test_a_chat_lands_on_a_ticket_and_the_agent_answers_it(
    client: QuartClient, db_session: AsyncSession
):
    agent = await make_agent(db_session)
    agent_id = agent.id
    headers = await _agent_headers(db_session, agent)
    async with visiting(client) as visitor:
        assert visitor.welcome["online"] is True and visitor.welcome["conversation"] is None
        token = visitor.welcome["token"]
        await visitor.send(type="start", id="m1", body="Where is my order 1234?",
                           name="Ada Lovelace", email="Ada@Example.com")
        echoed = await visitor.hear("message", client_id="m1")
        assert echoed["from"] == "visitor" and echoed["body"] == "Where is my order 1234?"
        status = await visitor.hear("status", status="active")
        assert status["agent"] == "Sam", "the agent's first name, never their address"

        [conversation] = await _conversations(db_session)
        assert conversation.agent_id == agent_id and conversation.sender == "ada@example.com"
        ticket = await db_session.get(Ticket, conversation.ticket_id)
        assert ticket is not None and ticket.channel == Channel.chat
        conversation_id, ticket_id = conversation.id, ticket.id
        identities = await _fresh(db_session, select(Identity).where(
            Identity.customer_id == ticket.requester_id))
        assert {i.kind for i in identities} == {IdentityKind.email, IdentityKind.chat}

        await visitor.send(type="typing", on=True)
        typed = await client.post(f"/api/chats/{conversation_id}/typing", headers=headers,
                                  json={"on": True})
        assert typed.status_code == 200
        assert (await visitor.hear("typing"))["name"] == "Sam"
        answer = await client.post(f"/api/tickets/{ticket_id}/replies", headers=headers,
                                   json={"body": "It ships today.", "channel": "chat"})
        assert answer.status_code == 201, await answer.get_data(as_text=True)
        heard = await visitor.hear("message", **{"from": "agent"})
        assert heard["body"] == "It ships today." and heard["name"] == "Sam"

        # The same message again (the page resent it after a dropped connection): one entry.
        await visitor.send(type="message", id="m2", body="Thanks!")
        await visitor.send(type="message", id="m2", body="Thanks!")
        await visitor.hear("message", client_id="m2")

    async with visiting(client, token) as back:
        assert back.welcome["token"] == token, "the same visitor on the next page"
        assert back.welcome["conversation"]["status"] == "active"
        said = [(m["from"], m["body"]) for m in back.welcome["messages"]]
        assert said == [("visitor", "Where is my order 1234?"), ("agent", "It ships today."),
                        ("visitor", "Thanks!")]
        await back.send(type="end")
        await back.hear("status", status="closed")

    events = await _fresh(db_session, select(TicketEvent).where(
        TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id))
    assert [e.kind for e in events][-1] == TicketEventKind.note, "the end is on the timeline"
    [task] = await _fresh(db_session, select(Task))
    assert task.status == TaskStatus.completed
    ended = await client.post(f"/api/tickets/{ticket_id}/replies", headers=headers,
                              json={"body": "Anything else?", "channel": "chat"})
    assert ended.status_code == 422


async def test_an_agent_takes_three_chats_at_once_and_a_fourth_waits(
    client: QuartClient, db_session: AsyncSession
):
    agent = await make_agent(db_session)
    agent_id = agent.id
    headers = await _agent_headers(db_session, agent)
    async with (visiting(client) as one, visiting(client) as two, visiting(client) as three,
                visiting(client) as four):
        for n, visitor in enumerate((one, two, three, four), start=1):
            await visitor.send(type="start", id=f"s{n}", body=f"Question {n}", name=f"V{n}")
            await visitor.hear("message", client_id=f"s{n}")
        for visitor in (one, two, three):
            await visitor.hear("status", status="active")
        conversations = await _conversations(db_session)
        first = conversations[0].id
        assert [c.status for c in conversations] == [ConversationStatus.active] * 3 + [
            ConversationStatus.waiting]
        assert all(c.agent_id == agent_id for c in conversations[:3])

        ended = await client.post(f"/api/chats/{first}/close", headers=headers)
        assert ended.status_code == 200
        await one.hear("status", status="closed")
        assert (await four.hear("status", status="active"))["agent"] == "Sam"
        again = await client.post(f"/api/chats/{first}/close", headers=headers)
        assert again.status_code == 409


async def test_nobody_online_leaves_a_message_as_an_email_ticket(
    client: QuartClient, db_session: AsyncSession
):
    await make_agent(db_session, available=False)
    await db_session.commit()
    async with visiting(client) as visitor:
        assert visitor.welcome["online"] is False
        await visitor.send(type="leave", id="l1", body="Please call me back about a refund.",
                           name="Grace")
        assert "email" in (await visitor.hear("error"))["message"], "an address is needed"
        await visitor.send(type="leave", id="l1", body="Please call me back about a refund.",
                           name="Grace", email="grace@example.com")
        assert (await visitor.hear("left"))["ok"] is True
    [ticket] = await _fresh(db_session, select(Ticket))
    assert ticket.channel == Channel.email and "refund" in ticket.subject
    [event] = await _fresh(db_session, select(TicketEvent))
    assert event.kind == TicketEventKind.email and event.data["from"] == "grace@example.com"


async def test_other_sites_big_and_fast_senders_and_blocked_visitors_are_refused(
    app: Quart, client: QuartClient, db_session: AsyncSession
):
    with pytest.raises(WebsocketResponseError) as refused:
        elsewhere = {"Origin": "https://evil.example"}
        async with client.websocket("/chat/socket", headers=elsewhere) as socket:
            await socket.send("{}")
            await socket.receive()
    assert refused.value.response.status_code == 403

    await make_agent(db_session)
    db_session.add(BlocklistEntry(kind=BlockKind.email, value="troll@example.com",
                                  reason="abuse"))
    await db_session.commit()
    async with visiting(client) as visitor:
        await visitor.send(type="start", id="b1", body="hi", email="troll@example.com")
        assert "cannot take" in (await visitor.hear("error"))["message"]
        assert await _conversations(db_session) == []

        await visitor.socket.send("x" * 70_000)
        assert "too large" in (await visitor.hear("error"))["message"]
        await visitor.socket.send("not json")
        assert "could not be read" in (await visitor.hear("error"))["message"]

        await visitor.send(type="start", id="a1", body="y" * 5000)
        long = await visitor.hear("message", client_id="a1")
        assert len(long["body"]) == app.extensions["callcenter"].settings.chat_message_limit_chars
        for n in range(12):
            await visitor.send(type="message", id=f"f{n}", body=f"spam {n}")
        assert "too fast" in (await visitor.hear("error"))["message"]
    kept = await _fresh(db_session, select(TicketEvent).where(
        TicketEvent.kind == TicketEventKind.chat))
    assert len(kept) < 12, "the rate limit held"


async def test_an_agent_on_a_call_gets_no_new_chat_and_one_with_no_chat_capacity_none(
    client: QuartClient, db_session: AsyncSession
):
    busy = await make_agent(db_session)
    busy.routing_state = RoutingState.on_call
    phones_only = await make_agent(db_session)
    phones_only.capacity = {"voice": 1, "chat": 0}
    await db_session.commit()
    async with visiting(client) as visitor:
        assert visitor.welcome["online"] is True, "the busy agent is available, on a call"
        await visitor.send(type="start", id="c1", body="Anyone there?")
        await visitor.hear("status", status="waiting")
        await asyncio.sleep(0.3)
        [conversation] = await _conversations(db_session)
        assert conversation.status == ConversationStatus.waiting and conversation.agent_id is None


async def test_a_visitor_who_gives_a_number_chats_on_that_callers_ticket(
    client: QuartClient, db_session: AsyncSession
):
    """A caller's customer, found by the number typed any way: the chat joins their ticket."""
    caller = await customers.find_or_create_by_phone(db_session, phone="+14155550123")
    await db_session.commit()
    caller_id = caller.id
    async with visiting(client) as visitor:
        await visitor.send(type="start", id="p1", body="I called earlier", phone="(415) 555-0123")
        await visitor.hear("message", client_id="p1")
    [ticket] = await _fresh(db_session, select(Ticket))
    assert ticket.requester_id == caller_id


async def test_a_second_chat_claiming_a_customer_in_a_chat_gets_a_ticket_of_its_own(
    client: QuartClient, db_session: AsyncSession
):
    """Someone typing another person's address while that person chats never lands in
    their chat (nothing proves an address typed into a widget is theirs)."""
    await make_agent(db_session)
    await db_session.commit()
    async with visiting(client) as ada, visiting(client) as other:
        await ada.send(type="start", id="a1", body="Hello", email="ada@example.com")
        await ada.hear("message", client_id="a1")
        await other.send(type="start", id="o1", body="Me too", email="ada@example.com")
        await other.hear("message", client_id="o1")
        await other.socket.send("[" * 5000)  # nested past any parser's patience
        assert "could not be read" in (await other.hear("error"))["message"]
    first, second = await _conversations(db_session)
    assert first.ticket_id != second.ticket_id and second.sender.startswith("v-")
    [claimed] = await _fresh(db_session, select(TicketEvent).where(
        TicketEvent.ticket_id == first.ticket_id, TicketEvent.kind == TicketEventKind.chat))
    assert claimed.data["claimed"] == "ada@example.com", "the page marks it not verified"


async def test_a_merged_tickets_chat_goes_on_on_the_ticket_it_joined(
    client: QuartClient, db_session: AsyncSession
):
    agent = await make_agent(db_session)
    headers = await _agent_headers(db_session, agent)
    async with visiting(client) as visitor:
        await visitor.send(type="start", id="m1", body="Hi", email="ada@example.com")
        await visitor.hear("status", status="active")
        [conversation] = await _conversations(db_session)
        source = conversation.ticket_id
        other = await client.post("/api/tickets", headers=headers, json={
            "requester_id": (await db_session.get(Ticket, source)).requester_id,
            "subject": "Older ticket", "body": "From the phone"})
        assert other.status_code == 201, await other.get_data(as_text=True)
        target = (await other.get_json())["id"]
        merged = await client.post(f"/api/tickets/{source}/merge", headers=headers,
                                   json={"into_id": target})
        assert merged.status_code == 200, await merged.get_data(as_text=True)
        answer = await client.post(f"/api/tickets/{target}/replies", headers=headers,
                                   json={"body": "Still here.", "channel": "chat"})
        assert answer.status_code == 201
        assert (await visitor.hear("message", **{"from": "agent"}))["body"] == "Still here."

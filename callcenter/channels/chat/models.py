"""Chat visitors and their conversations.

A **visitor** is a browser that opened the widget: it keeps a secret token (in the site's
local storage) that brings it back to the same visitor on every page load, and a public id
(`v-...`) that is the customer's chat identity. Only the token's hash is stored, so the
table gives no one a way to speak as a visitor.

A **conversation** is one chat: it lands on a ticket (the customer's open one, or a new
one), is a routing task (`channel=chat`) while it waits for and is served by an agent, and
stays on the ticket's timeline once it ends. Its messages are ticket events (kind `chat`).
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.db import Base, CreatedAtMixin, utcnow


class ChatVisitor(CreatedAtMixin, Base):
    __tablename__ = "chat_visitor"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256, hex
    # The customer they turned out to be (by the email or number they gave), once known.
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer.id", ondelete="SET NULL")
    )
    name: Mapped[str] = mapped_column(String(200), default="")
    origin: Mapped[str] = mapped_column(String(300), default="")  # the site they came from
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ConversationStatus(enum.StrEnum):
    waiting = "waiting"  # for an agent
    active = "active"  # an agent has it
    closed = "closed"


class ChatConversation(CreatedAtMixin, Base):
    __tablename__ = "chat_conversation"

    id: Mapped[int] = mapped_column(primary_key=True)
    visitor_id: Mapped[int] = mapped_column(ForeignKey("chat_visitor.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("task.id", ondelete="SET NULL"))
    status: Mapped[ConversationStatus] = mapped_column(
        Enum(ConversationStatus, native_enum=False, length=10), default=ConversationStatus.waiting
    )
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agent.id", ondelete="SET NULL"))
    # How the visitor is known on the timeline: the identity the chat landed through.
    identity_kind: Mapped[str] = mapped_column(String(10))
    sender: Mapped[str] = mapped_column(String(320))
    closed_at: Mapped[dt.datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(10))  # visitor, agent

    __table_args__ = (
        Index("ix_chat_conversation_visitor", "visitor_id", "status"),
        Index("ix_chat_conversation_agent", "agent_id", "status"),
    )

"""Agents' availability and the offers (reservations) routing makes to them.

An agent is offered one call at a time. Moving an agent between activities is a single
conditional UPDATE (`WHERE activity = 'available'`), so two app instances can never hand
the same agent two calls, on SQLite or PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.db import Base, CreatedAtMixin, utcnow


class Activity(enum.StrEnum):
    offline = "offline"
    available = "available"
    reserved = "reserved"
    busy = "busy"
    away = "away"


class ReservationStatus(enum.StrEnum):
    pending = "pending"
    accepted = "accepted"
    rejected = "rejected"
    timeout = "timeout"
    canceled = "canceled"
    failed = "failed"  # we could not ring the agent (Twilio refused or was unreachable)
    completed = "completed"

    @property
    def is_open(self) -> bool:
        return self in (ReservationStatus.pending, ReservationStatus.accepted)


class Agent(CreatedAtMixin, Base):
    """A user who takes calls: their softphone identity and what they are doing now."""

    __tablename__ = "agent"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), unique=True)
    client_identity: Mapped[str] = mapped_column(String(100), unique=True)
    activity: Mapped[Activity] = mapped_column(
        Enum(Activity, native_enum=False, length=20), default=Activity.offline, index=True
    )
    activity_changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Longest idle first: the agent whose last call ended longest ago gets the next one.
    idle_since: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Reservation(CreatedAtMixin, Base):
    """An offer of one waiting call to one agent, from ringing to its end."""

    __tablename__ = "reservation"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("call.id", ondelete="CASCADE"), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agent.id", ondelete="CASCADE"), index=True)
    status: Mapped[ReservationStatus] = mapped_column(
        Enum(ReservationStatus, native_enum=False, length=20),
        default=ReservationStatus.pending,
        index=True,
    )
    agent_call_sid: Mapped[str | None] = mapped_column(String(34), index=True)
    answered_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None]

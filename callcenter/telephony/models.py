"""Calls as the app knows them, and the status callbacks Twilio sent about them."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.db import Base, CreatedAtMixin


class CallDirection(enum.StrEnum):
    inbound = "inbound"
    outbound = "outbound"


class CallStatus(enum.StrEnum):
    """Twilio's CallStatus values, in the order a call moves through them."""

    queued = "queued"
    initiated = "initiated"
    ringing = "ringing"
    in_progress = "in-progress"
    completed = "completed"
    busy = "busy"
    failed = "failed"
    no_answer = "no-answer"
    canceled = "canceled"

    @property
    def is_final(self) -> bool:
        return self in _FINAL


_FINAL = {
    CallStatus.completed,
    CallStatus.busy,
    CallStatus.failed,
    CallStatus.no_answer,
    CallStatus.canceled,
}


class Outcome(enum.StrEnum):
    """How a call ended for the caller, as supervisors and reports count it."""

    blocked = "blocked"
    answered = "answered"
    abandoned = "abandoned"
    voicemail = "voicemail"
    callback = "callback"  # the caller left the line asking to be called back
    left_in_ivr = "left-in-ivr"
    failed = "failed"


class Call(CreatedAtMixin, Base):
    """One customer call (Twilio's parent leg), with what happened to it: call facts only.
    Its wait in line is routing's (the call's task), not the call's."""

    __tablename__ = "call"

    id: Mapped[int] = mapped_column(primary_key=True)
    sid: Mapped[str] = mapped_column(String(34), unique=True)
    direction: Mapped[CallDirection] = mapped_column(
        Enum(CallDirection, native_enum=False, length=10)
    )
    # Wide enough for any From/To Twilio sends, SIP URIs included; the edge checks the length.
    from_number: Mapped[str] = mapped_column(String(255))
    to_number: Mapped[str] = mapped_column(String(255))
    status: Mapped[CallStatus] = mapped_column(
        Enum(CallStatus, native_enum=False, length=20,
             values_callable=lambda e: [m.value for m in e]),
        index=True,
    )
    # The highest status-callback SequenceNumber applied, so late callbacks cannot undo newer ones.
    status_sequence: Mapped[int] = mapped_column(default=-1)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    # The user who answered: named so, because `agent_id` elsewhere means an agent's row.
    agent_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL")
    )
    outcome: Mapped[str | None] = mapped_column(String(30))
    # The IVR flow version the call started with (`ivr_flow_version.id`; versions are never
    # deleted): it hears that version to its end.
    flow_version_id: Mapped[int | None]
    # What the IVR's `set` nodes set on the call (priority, required skills, ticket
    # priority), kept by CallSid for the queue it reaches.
    ivr_fields: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    started_at: Mapped[dt.datetime]
    answered_at: Mapped[dt.datetime | None]
    connected_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None]
    duration_seconds: Mapped[int | None]
    talk_seconds: Mapped[int | None]
    disposition: Mapped[str | None] = mapped_column(String(100))
    recording_sid: Mapped[str | None] = mapped_column(String(34))
    recording_url: Mapped[str | None] = mapped_column(String(500))
    transcript: Mapped[str | None] = mapped_column(Text)


class CallEvent(CreatedAtMixin, Base):
    """A status callback as received; unique per call, source and sequence, so repeats drop."""

    __tablename__ = "call_event"
    __table_args__ = (UniqueConstraint("call_sid", "source", "sequence_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(34), index=True)
    source: Mapped[str] = mapped_column(String(40))
    sequence_number: Mapped[int]
    status: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[dt.datetime | None]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

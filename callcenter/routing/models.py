"""Routing in Twilio TaskRouter's terms: task queues, workflows, agents (workers), tasks and
reservations, and the agent state log.

- A **task queue** selects agents with an expression over their skills and languages and
  orders them with a strategy; `queue_member` holds which agents it selects, computed when
  an agent's skills or the queue's expression change, so routing never evaluates
  expressions while a caller waits.
- A **workflow** is a queue's escalation steps (TaskRouter's workflow targets).
- An **agent** has an *activity* they choose (offline, available, on a break) apart from
  the *routing state* routing sets (idle, ringing, on a call, wrap-up); every change of
  either is a row in `agent_state_log`.
- A **task** is something to route (a call now, a callback, a chat),
  with its priority and entry time: tasks are taken by priority, then age.
- A **reservation** is one offer of one task to one agent.

Claims stay in the database: an agent is claimed with one conditional UPDATE on their
routing state, a task is locked with `FOR UPDATE SKIP LOCKED`, so any number of app
instances on one PostgreSQL never offer a task to two agents or an agent two tasks.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Date, Enum, ForeignKey, Index, String, Text, and_, or_, true
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from callcenter.db import Base, CreatedAtMixin, utcnow

# Chats at once for an agent whose capacity does not say.
CHAT_CAPACITY = 3
# "Never": a queue member not yet offered anything is first in round-robin order.
NEVER = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def _enum(kind: type[enum.Enum], length: int = 20) -> Enum:
    """Stored by value ("on-call"), as the API shows it, in a plain string column."""
    return Enum(
        kind, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e]
    )


class Activity(enum.StrEnum):
    """What an agent chose to be doing."""

    offline = "offline"
    available = "available"
    on_break = "break"


class RoutingState(enum.StrEnum):
    """What routing has the agent doing (voice: one task at a time)."""

    idle = "idle"
    ringing = "ringing"
    on_call = "on-call"
    wrap_up = "wrap-up"


class Strategy(enum.StrEnum):
    """How a queue chooses among the eligible free agents (mod_callcenter's strategies)."""

    longest_idle = "longest-idle"
    round_robin = "round-robin"
    fewest_calls = "fewest-calls"
    least_talk_time = "least-talk-time"
    random = "random"
    ring_all = "ring-all"


class TaskChannel(enum.StrEnum):
    voice = "voice"
    callback = "callback"
    chat = "chat"


class TaskStatus(enum.StrEnum):
    """TaskRouter's assignment status, plus `wrapping` while the agent finishes up."""

    pending = "pending"
    reserved = "reserved"
    assigned = "assigned"
    wrapping = "wrapping"
    completed = "completed"
    canceled = "canceled"

    @property
    def is_open(self) -> bool:
        return self in (TaskStatus.pending, TaskStatus.reserved, TaskStatus.assigned)


class ReservationStatus(enum.StrEnum):
    pending = "pending"
    accepted = "accepted"
    rejected = "rejected"
    timeout = "timeout"
    canceled = "canceled"  # the task went away (the caller hung up)
    rescinded = "rescinded"  # ring-all: another agent accepted first
    failed = "failed"  # we could not ring the agent (Twilio refused or was unreachable)
    completed = "completed"

    @property
    def is_open(self) -> bool:
        return self in (ReservationStatus.pending, ReservationStatus.accepted)


class TaskQueue(CreatedAtMixin, Base):
    """A line callers (and later chats and emails) wait in, and the agents who serve it."""

    __tablename__ = "task_queue"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The name IVR queue nodes use; also the name of the Twilio queue callers wait in.
    name: Mapped[str] = mapped_column(String(63), unique=True)
    description: Mapped[str] = mapped_column(String(200), default="")
    expression: Mapped[str] = mapped_column(Text, default="1==1")
    strategy: Mapped[Strategy] = mapped_column(_enum(Strategy), default=Strategy.longest_idle)
    max_size: Mapped[int | None]
    max_wait_seconds: Mapped[int | None]
    # Where a caller goes when the queue is full or their wait passes max_wait_seconds:
    # another queue's name, or "voicemail".
    overflow: Mapped[str | None] = mapped_column(String(63))
    service_level_seconds: Mapped[int] = mapped_column(default=30)
    wrapup_seconds: Mapped[int] = mapped_column(default=30)


class Workflow(CreatedAtMixin, Base):
    """A queue's escalation steps: each names a queue, an optional narrower expression and a
    timeout after which the task moves to the next step, keeping its age."""

    __tablename__ = "workflow"

    id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(
        ForeignKey("task_queue.id", ondelete="CASCADE"), unique=True
    )
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class Agent(CreatedAtMixin, Base):
    """A user who takes tasks (TaskRouter's worker): their skills, activity and state."""

    __tablename__ = "agent"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), unique=True)
    client_identity: Mapped[str] = mapped_column(String(100), unique=True)
    activity: Mapped[Activity] = mapped_column(_enum(Activity), default=Activity.offline)
    break_reason: Mapped[str | None] = mapped_column(String(100))
    activity_changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    routing_state: Mapped[RoutingState] = mapped_column(
        _enum(RoutingState), default=RoutingState.idle
    )
    routing_state_changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Longest idle first: the agent whose last task ended longest ago gets the next one.
    idle_since: Mapped[dt.datetime] = mapped_column(default=utcnow)
    wrapup_until: Mapped[dt.datetime | None]
    # skill name -> level (1..10); languages as codes ("en", "ru").
    skills: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Tasks at once per channel: voice 1; chats (CHAT_CAPACITY when not set) while on no call.
    capacity: Mapped[dict[str, int]] = mapped_column(JSON, default=lambda: {"voice": 1})
    missed_offers: Mapped[int] = mapped_column(default=0)
    last_heartbeat_at: Mapped[dt.datetime | None]
    # Today's counts for the fewest-calls and least-talk-time strategies (UTC day).
    stats_day: Mapped[dt.date | None] = mapped_column(Date)
    calls_today: Mapped[int] = mapped_column(default=0)
    talk_seconds_today: Mapped[int] = mapped_column(default=0)

    def is_free(self, now: dt.datetime) -> bool:
        """`free_now` for this one agent, as loaded."""
        if self.activity != Activity.available:
            return False
        if self.routing_state == RoutingState.idle:
            return True
        over = self.wrapup_until is not None and self.wrapup_until <= now
        return self.routing_state == RoutingState.wrap_up and over

    # The routing decision walks one of these in the queue's strategy's order, free agents
    # only (decisions.py): idle agents by idle time, by today's calls or talk time, and
    # agents whose wrap-up is over by when it ended.
    __table_args__ = (
        Index("ix_agent_free", "activity", "routing_state", "idle_since", "id"),
        Index("ix_agent_wrapup", "activity", "routing_state", "wrapup_until"),
        Index("ix_agent_calls", "activity", "routing_state", "stats_day", "calls_today",
              "idle_since"),
        Index("ix_agent_talk", "activity", "routing_state", "stats_day", "talk_seconds_today",
              "idle_since"),
    )

    def attributes(self) -> dict[str, Any]:
        """What queue expressions see of this agent."""
        return {"skills": self.skills or {}, "languages": self.languages or []}


def idle_now() -> ColumnElement[bool]:
    """An agent free by being idle: available, with no task."""
    return and_(Agent.activity == Activity.available, Agent.routing_state == RoutingState.idle)


def wrapup_over(now: Any) -> ColumnElement[bool]:
    """An agent free because their wrap-up's time is up (`now`: a time or a bound value)."""
    return and_(
        Agent.activity == Activity.available,
        Agent.routing_state == RoutingState.wrap_up,
        Agent.wrapup_until <= now,
    )


def free_now(now: dt.datetime) -> ColumnElement[bool]:
    """An agent who may be offered a voice task: available, and idle or past their wrap-up.

    A wrap-up whose time is up counts as over even before anything ends it, so an agent is
    never kept from callers by a timer that did not fire. (No one index orders both cases:
    the routing decision reads them as two branches.)
    """
    return or_(idle_now(), wrapup_over(now))


def staffing() -> ColumnElement[bool]:
    """An agent who counts as staffing the phones for a caller's sake: available, or busy
    with a task (they will be free again)."""
    return or_(Agent.activity == Activity.available, Agent.routing_state != RoutingState.idle)


class QueueMember(Base):
    """An agent a queue's expression selects, with when the queue last offered them a task
    (the round-robin strategy's order)."""

    __tablename__ = "queue_member"

    queue_id: Mapped[int] = mapped_column(
        ForeignKey("task_queue.id", ondelete="CASCADE"), primary_key=True
    )
    agent_id: Mapped[int] = mapped_column(
        ForeignKey("agent.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    last_offered_at: Mapped[dt.datetime] = mapped_column(default=NEVER)

    __table_args__ = (
        Index("ix_queue_member_offered", "queue_id", "last_offered_at", "agent_id"),
    )


class AgentStateLog(Base):
    """Every change of an agent's activity or routing state, with its time and reason."""

    __tablename__ = "agent_state_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agent.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))  # "activity" or "routing"
    state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(100))
    task_id: Mapped[int | None]
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_agent_state_log_agent_at", "agent_id", "at"),)


class Task(CreatedAtMixin, Base):
    """Something to route to an agent: a waiting caller, a callback to make."""

    __tablename__ = "task"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[TaskChannel] = mapped_column(_enum(TaskChannel))
    status: Mapped[TaskStatus] = mapped_column(_enum(TaskStatus), default=TaskStatus.pending)
    # None once the queue is deleted (finished tasks only: an open task's queue stays).
    queue_id: Mapped[int | None] = mapped_column(
        ForeignKey("task_queue.id", ondelete="SET NULL")
    )
    # The workflow it follows (its entry queue's), the step it is at, and since when (the
    # step's timeout counts from there).
    workflow_id: Mapped[int | None] = mapped_column(
        ForeignKey("workflow.id", ondelete="SET NULL")
    )
    step: Mapped[int] = mapped_column(default=0)
    step_started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    priority: Mapped[int] = mapped_column(default=0)
    # The task's age: a callback keeps its caller's original place in line.
    entered_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # customer id, number, language, required skills: what routing and the agent see.
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    call_id: Mapped[int | None] = mapped_column(
        ForeignKey("call.id", ondelete="CASCADE"), index=True
    )
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id", ondelete="SET NULL"))
    # The Twilio queue the caller waits in, and Twilio's QueueResult when they left it.
    twilio_queue_sid: Mapped[str | None] = mapped_column(String(34))
    queue_result: Mapped[str | None] = mapped_column(String(20))
    # Why a pending caller is leaving the queue (voicemail, callback, overflow), set before
    # Twilio reports the Enqueue's end, so no agent is offered a caller on their way out.
    leaving: Mapped[str | None] = mapped_column(String(20))
    # How it ended: answered, abandoned, voicemail, callback, overflow, no-answer...
    reason: Mapped[str | None] = mapped_column(String(30))
    wait_seconds: Mapped[int | None]
    assigned_at: Mapped[dt.datetime | None]
    wrapup_started_at: Mapped[dt.datetime | None]
    wrapup_seconds: Mapped[int | None]
    completed_at: Mapped[dt.datetime | None]
    # A callback's tries so far, and when the next may be offered (None: now).
    attempts: Mapped[int] = mapped_column(default=0)
    available_at: Mapped[dt.datetime | None]


# A queue's line in order (highest priority, then oldest), so the next task for an agent is
# read off the index of each of their queues.
Index(
    "ix_task_waiting", Task.status, Task.queue_id, Task.priority.desc(), Task.entered_at, Task.id
)
# A queue's latest finished tasks, for the handle time a caller's estimated wait uses.
Index("ix_task_handled", Task.queue_id, Task.status, Task.completed_at)
# One day's tasks, for the live board's figures for today.
Index("ix_task_day", Task.channel, Task.entered_at)


class Reservation(CreatedAtMixin, Base):
    """An offer of one task to one agent, from ringing to its end."""

    __tablename__ = "reservation"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agent.id", ondelete="CASCADE"))
    status: Mapped[ReservationStatus] = mapped_column(
        _enum(ReservationStatus), default=ReservationStatus.pending, index=True
    )
    agent_call_sid: Mapped[str | None] = mapped_column(String(34), index=True)
    # The customer's leg a callback dials once the agent accepts.
    customer_call_sid: Mapped[str | None] = mapped_column(String(34), index=True)
    answered_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None]
    # The caller on hold since (the agent pressed Hold), and the seconds held before.
    held_at: Mapped[dt.datetime | None]
    hold_seconds: Mapped[int] = mapped_column(default=0, server_default="0")
    # When the agent's wrap-up of this offer ended (their time on it ends there).
    wrapup_ended_at: Mapped[dt.datetime | None]

    __table_args__ = (Index("ix_reservation_agent_status", "agent_id", "status"),)


class Disposition(CreatedAtMixin, Base):
    """An outcome an agent picks for a call at wrap-up ("Resolved", "Refund issued"), from
    the list admins keep; retired ones stay on past calls but are no longer offered."""

    __tablename__ = "disposition"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    active: Mapped[bool] = mapped_column(default=True, server_default=true())

"""The tickets API's bodies: tickets, their timelines, Last Five, macros, groups, triggers."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from callcenter.api import LongText, PageQuery, PlainText, count
from callcenter.tickets import sla
from callcenter.tickets.lists import View
from callcenter.tickets.models import (
    Channel,
    Ticket,
    TicketEvent,
    TicketEventKind,
    TicketPriority,
    TicketStatus,
)

Tag = Annotated[PlainText, Field(min_length=1, max_length=60)]


class CallOut(BaseModel):
    """Your softphone rings first; when you answer, `number` is dialled."""

    number: str
    message: str


class SlaTargetOut(BaseModel):
    name: str = Field(description="first_reply, next_reply or resolution")
    due_at: dt.datetime
    met_at: dt.datetime | None
    breached: bool


class TicketOut(BaseModel):
    id: int
    subject: str
    status: TicketStatus
    priority: TicketPriority
    channel: Channel
    requester_id: int
    assignee_id: int | None
    group_id: int | None
    tags: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime
    solved_at: dt.datetime | None
    sla_due_at: dt.datetime | None = Field(description="the earliest SLA target not yet met")
    sla_breached: bool
    sla: list[SlaTargetOut]
    merged_into_id: int | None

    @classmethod
    def of(cls, ticket: Ticket, *, now: dt.datetime) -> TicketOut:
        targets = sla.targets(ticket, now=now)
        return cls(
            id=ticket.id, subject=ticket.subject, status=ticket.status,
            priority=ticket.priority, channel=ticket.channel, requester_id=ticket.requester_id,
            assignee_id=ticket.assignee_id, group_id=ticket.group_id, tags=ticket.tags or [],
            created_at=ticket.created_at, updated_at=ticket.updated_at,
            solved_at=ticket.solved_at, sla_due_at=ticket.sla_due_at,
            sla_breached=any(t.breached for t in targets),
            sla=[SlaTargetOut(name=t.name, due_at=t.due_at, met_at=t.met_at,
                              breached=t.breached) for t in targets],
            merged_into_id=ticket.merged_into_id,
        )


class TicketPage(BaseModel):
    items: list[TicketOut]
    page: int
    per_page: int
    total: int
    next_page: int | None


class TicketQuery(PageQuery):
    """`q` is searched as text, a ticket id (`123` or `#123`), a phone number in any format
    or an email address; the other filters narrow the list."""

    view: View | None = None
    customer: int | None = Field(default=None, ge=1, le=2147483647)
    channel: Channel | None = None
    status: TicketStatus | None = None
    q: PlainText = Field(default="", max_length=200)


class TicketIn(BaseModel):
    """A new ticket for a customer: name them by `requester_id`, or by a phone number (any
    format) or email address in `requester` (a customer is made for one we do not know)."""

    subject: PlainText = Field(min_length=1, max_length=300)
    body: LongText = Field(min_length=1, max_length=50_000)
    requester_id: int | None = Field(default=None, ge=1, le=2147483647)
    requester: PlainText | None = Field(default=None, max_length=320)
    channel: Channel = Channel.web
    tags: list[Tag] = Field(default_factory=list, max_length=50)


class TicketPatch(BaseModel):
    """Fields to change; those left out stay. `assignee_id` or `group_id` null unassigns."""

    subject: PlainText | None = Field(default=None, min_length=1, max_length=300)
    status: TicketStatus | None = None
    priority: TicketPriority | None = None
    assignee_id: int | None = Field(default=None, ge=1, le=2147483647)
    group_id: int | None = Field(default=None, ge=1, le=2147483647)
    tags: list[Tag] | None = Field(default=None, max_length=50)


class NoteIn(BaseModel):
    body: LongText = Field(min_length=1, max_length=50_000)


class EventOut(BaseModel):
    id: int
    ticket_id: int
    kind: TicketEventKind
    author_id: int | None
    call_id: int | None
    body: str
    data: dict[str, Any]
    created_at: dt.datetime

    @classmethod
    def of(cls, event: TicketEvent) -> EventOut:
        return cls.model_validate(event, from_attributes=True)


class EventList(BaseModel):
    items: list[EventOut]


class TimelineQuery(BaseModel):
    before_id: int | None = Field(default=None, ge=1, le=2147483647)
    limit: int = Field(default=50, ge=1, le=200)


class MoveIn(BaseModel):
    ticket_id: int = Field(ge=1, le=2147483647, description="the ticket to move the entry to")


class MergeIn(BaseModel):
    into_id: int = Field(ge=1, le=2147483647, description="the ticket that keeps everything")


class LastFiveItem(BaseModel):
    id: int
    subject: str
    status: TicketStatus
    channel: Channel
    updated_at: dt.datetime
    url: str


class LastFiveOut(BaseModel):
    """The requester's five most recently updated other tickets, every channel."""

    items: list[LastFiveItem]


class MacroOut(BaseModel):
    id: int
    name: str
    body: str
    actions: list[dict[str, Any]]


class MacroList(BaseModel):
    items: list[MacroOut]


class SetAction(BaseModel):
    """Give a field a value: status, priority, group (by name), assignee (by email, "" for
    nobody)."""

    model_config = ConfigDict(extra="forbid")
    set: Literal["status", "priority", "group", "assignee"]
    value: PlainText = Field(max_length=320)


class AddTags(BaseModel):
    model_config = ConfigDict(extra="forbid")
    add_tags: list[Tag] = Field(min_length=1, max_length=50)


class RemoveTags(BaseModel):
    model_config = ConfigDict(extra="forbid")
    remove_tags: list[Tag] = Field(min_length=1, max_length=50)


class MacroIn(BaseModel):
    """A macro: its reply (a note, until the channels carry replies) and its actions, in
    order. 422 when an action cannot work (a group that does not exist)."""

    name: PlainText = Field(min_length=1, max_length=200)
    body: LongText = Field(default="", max_length=50_000)
    actions: list[SetAction | AddTags | RemoveTags] = Field(default_factory=list, max_length=20)

    def steps(self) -> list[dict[str, Any]]:
        return [action.model_dump() for action in self.actions]


class AppliedOut(BaseModel):
    ticket: TicketOut
    events: list[EventOut]


class GroupOut(BaseModel):
    id: int
    name: str
    email: str | None = None  # mail to it opens the group's tickets


class GroupList(BaseModel):
    items: list[GroupOut]


class ViewCount(BaseModel):
    view: View
    title: str
    count: int


class ViewCounts(BaseModel):
    items: list[ViewCount]


class TimerIn(BaseModel):
    """start (or resume), pause, reset, or heartbeat (the page is still open, running)."""

    action: Literal["start", "pause", "reset", "heartbeat"]


class TimerOut(BaseModel):
    running: bool
    seconds: int = Field(description="on the timer now, recorded by your next update")


class TimeEntryOut(BaseModel):
    id: int
    ticket_id: int
    user_id: int | None
    seconds: int = Field(description="negative for a correction that takes time off")
    source: str
    call_part: str | None
    call_id: int | None
    worked_at: dt.datetime
    note: str
    corrects_id: int | None
    created_by_id: int | None
    created_at: dt.datetime


class TimeOut(BaseModel):
    """The ticket's time: every entry, the total, and your timer."""

    total_seconds: int
    entries: list[TimeEntryOut]
    timer: TimerOut


class ManualTimeIn(BaseModel):
    seconds: int = Field(ge=1, le=86_400)
    note: PlainText = Field(default="", max_length=500)
    worked_at: dt.datetime | None = Field(default=None, description="default: now")


class CorrectionIn(BaseModel):
    seconds: int = Field(ge=0, le=86_400, description="what the entry should count")
    reason: PlainText = Field(min_length=1, max_length=500)


Position = count(0, 10_000)
Minutes = count(1, 525_600)  # a year
ThreadWindow = count(0, 8760)


_ADDRESS_PART = r"[^@\s\x1c-\x1f\x85\ufeff]"
_ADDRESS = rf"^({_ADDRESS_PART}{{1,64}}@{_ADDRESS_PART}{{1,255}}\.{_ADDRESS_PART}{{1,63}})?$"


class GroupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: PlainText = Field(min_length=1, max_length=100)
    # The group's own address (billing@...): mail to it opens the group's tickets, and its
    # tickets' replies come from it. Left out: unchanged; empty or null: none.
    # No whitespace as either Python's or JavaScript's `\s` reads it (they differ on a few
    # characters), so the document's pattern and the server agree.
    email: str | None = Field(default=None, max_length=320, pattern=_ADDRESS)


class TriggerIn(BaseModel):
    """A rule run on new tickets and/or updates, in `position` order. `conditions`:
    `{"all": [...], "any": [...]}` of `{"field", "op", "value"}` (fields channel, priority,
    status, text, tags, customer, business_hours, update). `actions`: `{"set": "status" |
    "priority" | "group" | "assignee", "value"}`, `{"add_tags": [...]}`, `{"remove_tags":
    [...]}`, `{"notify": "webhook", "webhook": name, "message"}`. 422 names the condition or
    action that cannot work."""

    model_config = ConfigDict(extra="forbid")

    name: PlainText = Field(min_length=1, max_length=200)
    conditions: dict[str, Any] = Field(default_factory=dict)
    actions: list[dict[str, Any]] = Field(min_length=1, max_length=20)
    on_create: StrictBool = True
    on_update: StrictBool = True
    position: Position = 0


class TriggerPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: PlainText | None = Field(default=None, min_length=1, max_length=200)
    conditions: dict[str, Any] | None = None
    actions: list[dict[str, Any]] | None = Field(default=None, min_length=1, max_length=20)
    on_create: StrictBool | None = None
    on_update: StrictBool | None = None
    position: Position | None = None
    active: StrictBool | None = None


class TriggerOut(BaseModel):
    id: int
    name: str
    active: bool
    position: int
    on_create: bool
    on_update: bool
    conditions: dict[str, Any]
    actions: list[dict[str, Any]]


class TriggerList(BaseModel):
    items: list[TriggerOut]


class SlaPolicyIn(BaseModel):
    """Minutes per target (null: no such target), counted in `hours` ("mon-fri 09:00-17:00;
    sat 10:00-14:00" or "24/7") in the IANA time zone `zone`."""

    model_config = ConfigDict(extra="forbid")

    first_reply_minutes: Minutes | None = None
    next_reply_minutes: Minutes | None = None
    resolution_minutes: Minutes | None = None
    hours: PlainText = Field(min_length=1, max_length=300)
    zone: PlainText = Field(default="UTC", min_length=1, max_length=64)


class SlaPolicyOut(SlaPolicyIn):
    priority: TicketPriority


class SlaPolicyList(BaseModel):
    items: list[SlaPolicyOut]


class DeskSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    thread_window_hours: ThreadWindow = Field(
        description="a contact joins the customer's open ticket updated within this many "
        "hours, else opens a new one (0: any open ticket)"
    )


class DeskSettingsOut(DeskSettingsIn):
    pass

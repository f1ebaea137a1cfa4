"""What the routing API sends and accepts (the admin pages' forms are checked with the same
models, so a field means one thing and has one set of bounds everywhere)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from callcenter.api import LongText, PlainText, count
from callcenter.routing import expressions, workflows
from callcenter.routing.models import (
    CHAT_CAPACITY,
    Activity,
    RoutingState,
    Strategy,
    TaskChannel,
    TaskStatus,
)
from callcenter.routing.queues import VOICEMAIL
from callcenter.tickets.models import TicketStatus

# The names IVR queue nodes use (`callcenter.ivr.flow.QueueNode.queue`).
QUEUE_NAME = r"^[a-z][a-z0-9_-]{0,62}$"
QueueName = Annotated[str, Field(pattern=QUEUE_NAME)]
Expression = Annotated[str, Field(max_length=expressions.MAX_LENGTH)]
SkillName = Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,40}$")]
LanguageCode = Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")]
Description = Annotated[PlainText, Field(max_length=200)]


def _exactly_true(value: Any) -> Any:
    """`{"voicemail": 1}` is not `{"voicemail": true}`."""
    if value is not True:
        raise PydanticCustomError("literal_error", "Input should be true")
    return value


SkillLevel = count(1, 10)
MaxSize = count(1, 10_000)
MaxWait = count(10, 4 * 3600)
ServiceLevel = count(1, 3600)
Wrapup = count(0, 3600)
Timeout = count(workflows.MIN_TIMEOUT, workflows.MAX_TIMEOUT)
OneCall = count(1, 1)
Chats = count(0, 20)


class Strict(BaseModel):
    """A request body: a misspelt field is refused rather than quietly ignored."""

    model_config = ConfigDict(extra="forbid")


def _unchanged_when_left_out(schema: dict[str, Any]) -> None:
    """A PATCH field left out keeps its value, so the document shows no default for it."""
    for field in schema.get("properties", {}).values():
        field.pop("default", None)


class Patch(Strict):
    """A partial update: only the fields sent change (`model_dump(exclude_unset=True)`)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_unchanged_when_left_out)

    def changes(self, current: object) -> dict[str, Any]:
        """The fields sent whose value differs from `current`'s: what the update changes,
        and what the audit log records of it."""
        sent = self.model_dump(exclude_unset=True)
        return {key: value for key, value in sent.items() if getattr(current, key) != value}


# --- agents ----------------------------------------------------------------------------------


class AgentOut(BaseModel):
    id: int
    user_id: int
    email: str
    client_identity: str
    activity: Activity
    break_reason: str | None
    activity_changed_at: dt.datetime
    routing_state: RoutingState
    routing_state_changed_at: dt.datetime
    wrapup_until: dt.datetime | None
    idle_since: dt.datetime
    skills: dict[str, int]
    languages: list[str]
    capacity: dict[str, int]
    missed_offers: int
    queues: list[str]


class AgentList(BaseModel):
    items: list[AgentOut]


class ActivityIn(BaseModel):
    """What an agent chooses; routing's states (ringing, on a call, wrap-up) are routing's.
    A break may carry a reason ("lunch", "training")."""

    activity: Activity
    reason: Annotated[PlainText, Field(max_length=100)] | None = None


class CapacityIn(Strict):
    """Tasks at once per channel: one call at a time (voice is 1 for now), and chats from
    the site's widget while on no call (0: no chats)."""

    voice: OneCall = 1
    chat: Chats = CHAT_CAPACITY


class AgentPatch(Patch):
    """What a supervisor changes about an agent; the queues that select them follow at once.

    `skills` and `languages` replace the agent's whole set (send `{}` or `[]` to clear it)."""

    # Keys outside the pattern are refused: the document says so, not only the validator.
    skills: dict[SkillName, SkillLevel] = Field(
        default_factory=dict, max_length=100, json_schema_extra={"additionalProperties": False}
    )
    languages: list[LanguageCode] = Field(default_factory=list, max_length=20)
    capacity: CapacityIn = Field(default_factory=CapacityIn)


class VoiceTokenOut(BaseModel):
    """An Access Token for the agent's softphone: register the Device with it, and ask
    again before `expires_at`."""

    token: str
    identity: str
    expires_at: dt.datetime


# --- the agent's work (the softphone page) ---------------------------------------------------


class TicketLineOut(BaseModel):
    """A ticket as the offer card lists it; `url` opens it."""

    id: int
    subject: str
    status: str
    channel: str
    updated_at: dt.datetime
    url: str


class WorkOut(BaseModel):
    """The call in front of the agent. `stage` is ringing (until `ring_until`), talking
    (on hold since `held_since`, when held) or wrap-up. `ticket` is the one the call lands
    on (the customer's open ticket until it has); `last_five` the customer's latest others."""

    reservation_id: int
    stage: Literal["ringing", "talking", "wrap-up"]
    kind: Literal["inbound", "callback", "transfer"]
    number: str
    withheld: bool
    queue: str | None
    customer_id: int | None
    customer_name: str
    ticket: TicketLineOut | None
    last_five: list[TicketLineOut]
    agent_call_sid: str | None
    ring_until: dt.datetime | None
    answered_at: dt.datetime | None
    held_since: dt.datetime | None
    disposition: str | None
    consulting: str | None
    consult_answered: bool


class MyWorkOut(BaseModel):
    """What the agent is working on now; `work` is null when nothing."""

    work: WorkOut | None


def my_work(found: Any) -> MyWorkOut:
    """`flows.work.current`'s answer (a `Work` or None) as the API gives it."""
    return MyWorkOut(work=WorkOut.model_validate(found, from_attributes=True) if found else None)


def _one_target_schema(schema: dict[str, Any]) -> None:
    """The document says what the validator does: exactly one target, an id, not null;
    a warm transfer goes to an agent."""
    for name in ("agent_id", "queue_id"):
        schema["properties"][name] = {
            "type": "integer", "minimum": 1, "maximum": 2_147_483_647, "title": name
        }
    schema["oneOf"] = [
        {"required": ["agent_id"], "not": {"required": ["queue_id"]}},
        {
            "required": ["queue_id"], "not": {"required": ["agent_id"]},
            "properties": {"warm": {"enum": [False]}},
        },
    ]


class TransferIn(Strict):
    """Where the call goes: one of `agent_id` (a colleague, who must be free) or
    `queue_id` (back into a queue's line). `warm`: consult the colleague first."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_one_target_schema)

    agent_id: int | None = Field(default=None, ge=1, le=2_147_483_647)
    queue_id: int | None = Field(default=None, ge=1, le=2_147_483_647)
    warm: bool = False

    @model_validator(mode="after")
    def _one_target(self) -> TransferIn:
        if (self.agent_id is None) == (self.queue_id is None):
            raise PydanticCustomError("one_target", "give exactly one of agent_id and queue_id")
        return self


class TransferAgentOut(BaseModel):
    id: int
    name: str
    free: bool


class TransferQueueOut(BaseModel):
    id: int
    name: str


class TransferTargetsOut(BaseModel):
    """Whom the agent can transfer to: colleagues (free ones can take it now) and queues."""

    agents: list[TransferAgentOut]
    queues: list[TransferQueueOut]


class MonitorIn(Strict):
    """listen: hear both sides, unheard; whisper: heard by the agent only; barge: join."""

    mode: Literal["listen", "whisper", "barge"]


class MonitorOut(BaseModel):
    """The supervisor's softphone is being rung into the call: answer it to be there."""

    mode: str
    call_sid: str


class HoldIn(Strict):
    hold: bool


Notes = Annotated[LongText, Field(max_length=10_000)]


class WrapUpIn(Strict):
    """A call's wrap-up: notes, a disposition from the list admins keep, the ticket's new
    status (left out: unchanged)."""

    reservation_id: int = Field(ge=1, le=2_147_483_647)
    notes: Notes = ""
    disposition_id: int | None = Field(default=None, ge=1, le=2_147_483_647)
    ticket_status: TicketStatus | None = None


class WrapUpOut(BaseModel):
    ticket_id: int
    ticket_status: str
    url: str


class DispositionIn(Strict):
    name: Annotated[PlainText, Field(min_length=1, max_length=100)]


class DispositionOut(BaseModel):
    id: int
    name: str
    active: bool


class DispositionList(BaseModel):
    items: list[DispositionOut]


class HeartbeatOut(BaseModel):
    """The agent as routing sees them at their page's heartbeat."""

    activity: Activity
    break_reason: str | None
    routing_state: RoutingState
    last_heartbeat_at: dt.datetime


class StateLogOut(BaseModel):
    id: int
    kind: Literal["activity", "routing"]
    state: str
    reason: str | None
    task_id: int | None
    at: dt.datetime


class StateLogList(BaseModel):
    items: list[StateLogOut]


class LogQuery(BaseModel):
    limit: int = Field(default=50, ge=1, le=500)


# --- queues ----------------------------------------------------------------------------------


class QueueSettings(Strict):
    """A queue's settings. `expression` selects its agents (TaskRouter's worker expressions:
    `skills HAS "billing" AND skill_levels.billing >= 2`); `overflow` is where callers go
    when it is full or their wait passes `max_wait_seconds`: another queue or voicemail."""

    description: Description = ""
    expression: Expression = "1==1"
    strategy: Strategy = Strategy.longest_idle
    max_size: MaxSize | None = None
    max_wait_seconds: MaxWait | None = None
    overflow: QueueName | None = None
    service_level_seconds: ServiceLevel = 30
    wrapup_seconds: Wrapup = 30


class QueueIn(QueueSettings):
    """A new queue: its name (what IVR queue nodes send callers to) and its settings."""

    name: QueueName

    @field_validator("name")
    @classmethod
    def _not_voicemail(cls, name: str) -> str:
        if name == VOICEMAIL:
            raise ValueError(f"{VOICEMAIL!r} is where overflow sends callers: choose another")
        return name


class QueuePatch(QueueSettings, Patch):
    """Changes to a queue's settings; its name stays (IVR nodes and Twilio know it by it).
    A new expression re-selects its agents at once; `null` lifts a limit or an overflow."""


class QueueOut(BaseModel):
    """A queue's settings and its live figures (waiting callers, agents in it, free now)."""

    id: int
    name: str
    description: str
    expression: str
    strategy: Strategy
    max_size: int | None
    max_wait_seconds: int | None
    overflow: str | None
    service_level_seconds: int
    wrapup_seconds: int
    created_at: dt.datetime
    waiting: int
    longest_wait_seconds: int
    agents: int
    agents_staffing: int
    agents_free: int


class QueueList(BaseModel):
    items: list[QueueOut]


# --- workflows -------------------------------------------------------------------------------


class QueueStep(Strict):
    """Wait in `queue` for the agents it selects (and `expression`, if given, narrows), for
    `timeout` seconds before the next step; the last step may wait without end."""

    queue: QueueName
    expression: Expression | None = None
    timeout: Timeout | None = None


class VoicemailStep(Strict):
    """End the workflow in voicemail (the last step only)."""

    voicemail: Annotated[Literal[True], BeforeValidator(_exactly_true)]


class WorkflowIn(Strict):
    """The queue's escalation steps, first to last: the first is the queue itself; every
    step but the last needs a timeout; voicemail, if any, comes last."""

    steps: list[QueueStep | VoicemailStep] = Field(min_length=1, max_length=workflows.MAX_STEPS)


class StepOut(BaseModel):
    queue: str | None = None
    voicemail: bool = False
    expression: str | None = None
    timeout: int | None = None


class WorkflowOut(BaseModel):
    id: int
    queue_id: int
    queue: str
    steps: list[StepOut]
    created_at: dt.datetime


class WorkflowList(BaseModel):
    items: list[WorkflowOut]


# --- tasks -----------------------------------------------------------------------------------


class TaskQuery(BaseModel):
    queue: QueueName | None = None


class TaskOut(BaseModel):
    """A waiting task: `position` is its place in its queue's line (1 = next)."""

    id: int
    channel: TaskChannel
    status: TaskStatus
    queue: str | None
    priority: int
    entered_at: dt.datetime
    age_seconds: int
    position: int
    attributes: dict[str, Any]
    call_id: int | None


class TaskList(BaseModel):
    items: list[TaskOut]

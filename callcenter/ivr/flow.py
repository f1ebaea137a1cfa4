"""The shape of an IVR flow, and the checks that refuse a broken one before a caller hits it.

A flow is a set of named nodes and a start node. Each node is one step a caller takes:
hear something (`say`), choose (`menu`), go one way or another by the opening hours
(`hours`), mark the call for routing (`set`), wait for an agent (`queue`), leave a
message (`voicemail`) or be let go (`hangup`). Flows live as YAML in `ivr/`; the JSON Schema in
`ivr/flow.schema.json` is generated from these models (`json_schema()`; a test keeps the
file current), for editors that complete and check YAML against a schema.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from callcenter.business_hours import BusinessHours, HoursError

NodeId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]


class FlowError(ValueError):
    """A flow that cannot be used; names the node and the reason, for the admin to fix.
    `problems` holds every problem found (this one first)."""

    def __init__(self, node: str | None, reason: str) -> None:
        self.node = node
        self.reason = reason
        self.problems: list[FlowError] = [self]
        super().__init__(f"node {node!r}: {reason}" if node else reason)

    @classmethod
    def of(cls, problems: list[FlowError]) -> FlowError:
        first = problems[0]
        first.problems = problems
        return first


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SayNode(_Node):
    type: Literal["say"]
    text: str = Field(min_length=1)
    next: NodeId


class MenuOption(_Node):
    digits: str = Field(pattern=r"^[0-9*#]{1,4}$")
    words: list[str] = []
    next: NodeId


class MenuNode(_Node):
    type: Literal["menu"]
    prompt: str = Field(min_length=1)
    options: list[MenuOption] = Field(min_length=1)
    timeout: int = Field(default=5, ge=1, le=60)
    attempts: int = Field(default=3, ge=1, le=10)
    invalid: str = "Sorry, that is not one of the choices."
    no_input: NodeId
    speech: bool = True


SkillName = Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,40}$")]


class QueueNode(_Node):
    """Wait for an agent in a routing queue (which must exist when the flow loads).

    `priority` (higher first) and `skills` (every one required of the agent) go on the
    caller's task; `ticket_priority` on the ticket the call lands on ("press 9, my shop is
    down" is urgent on both)."""

    type: Literal["queue"]
    queue: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$")
    max_wait: int = Field(default=600, ge=10, le=4 * 3600)
    announce_every: int = Field(default=30, ge=5, le=600)
    priority: int = Field(default=0, ge=0, le=100)
    skills: list[SkillName] = []
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")
    ticket_priority: Literal["low", "normal", "high", "urgent"] | None = None
    # Keys a waiting caller may press: leave a message instead, or be called back (keeping
    # their place in line). None: not offered.
    voicemail_key: str | None = Field(default=None, pattern=r"^[0-9*#]$")
    callback_key: str | None = Field(default=None, pattern=r"^[0-9*#]$")
    # What plays between announcements: the project's own hold music, or silence.
    music: Literal["default", "silence"] = "default"
    no_agents: NodeId


class VoicemailNode(_Node):
    type: Literal["voicemail"]
    prompt: str = Field(min_length=1)
    max_length: int = Field(default=120, ge=5, le=3600)
    thanks: str = "Thank you, we will get back to you. Goodbye."


class HangupNode(_Node):
    type: Literal["hangup"]
    text: str = ""


class HoursNode(_Node):
    """Open or closed now: callers go on to `open` inside the weekly hours, else to
    `closed` (outside them, and all day on a holiday). Hours are written as people say them,
    in the node's time zone: `mon-fri 09:00-17:00; sat 10:00-14:00` (or `24/7`)."""

    type: Literal["hours"]
    hours: str = Field(min_length=1, max_length=500)
    timezone: str = Field(min_length=1, max_length=64)
    holidays: list[dt.date] = Field(default_factory=list, max_length=366)
    open: NodeId
    closed: NodeId

    @model_validator(mode="after")
    def _readable(self) -> HoursNode:
        self.calendar()  # HoursError (a ValueError) names the part at fault
        return self

    def calendar(self) -> BusinessHours:
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise HoursError(f"{self.timezone!r} is not a time zone (e.g. Europe/London)") from None
        return BusinessHours.parse(self.hours, zone=zone, holidays=frozenset(self.holidays))


class SetNode(_Node):
    """Set fields on the call for the queue it reaches later: "press 9 if your shop is
    down" can lead here to make the caller urgent in the same support queue. `priority`
    raises the task's (never lowers it), `skills` are required of the agent besides the
    queue node's own, `ticket_priority` raises the ticket's."""

    type: Literal["set"]
    priority: int | None = Field(default=None, ge=0, le=100)
    skills: list[SkillName] = []
    ticket_priority: Literal["low", "normal", "high", "urgent"] | None = None
    next: NodeId


AnyNode = SayNode | MenuNode | QueueNode | VoicemailNode | HangupNode | HoursNode | SetNode
Node = Annotated[AnyNode, Field(discriminator="type")]
# Nodes a caller passes through without a word from them (a loop of these never ends).
PassThrough = SayNode | HoursNode | SetNode


class Flow(_Node):
    name: str
    language: str = "en-US"
    voice: str | None = None
    start: NodeId
    nodes: dict[NodeId, Node]
    # What a caller hears when something breaks on our side; must never depend on a node.
    apology: str = "We are sorry, something went wrong on our side."

    @model_validator(mode="after")
    def _check_graph(self) -> Flow:
        check(self)
        return self

    def node(self, node_id: str) -> Node:
        return self.nodes[node_id]


def _targets(node: AnyNode) -> list[str]:
    if isinstance(node, SayNode | SetNode):
        return [node.next]
    if isinstance(node, HoursNode):
        return [node.open, node.closed]
    if isinstance(node, MenuNode):
        return [option.next for option in node.options] + [node.no_input]
    if isinstance(node, QueueNode):
        return [node.no_agents]
    return []


def check(flow: Flow) -> None:
    """Refuse dangling references, ambiguous menus and loops a caller could never leave
    (FlowError, naming the node, with every problem found in `problems`)."""
    found = problems(flow)
    if found:
        raise FlowError.of(found)


def problems(flow: Flow) -> list[FlowError]:
    """Everything wrong with the flow's graph, node by node."""
    found: list[FlowError] = []
    if flow.start not in flow.nodes:
        found.append(FlowError(None, f"the start node {flow.start!r} does not exist"))
    for node_id, node in flow.nodes.items():
        dangling = [target for target in _targets(node) if target not in flow.nodes]
        found.extend(FlowError(node_id, f"goes to {target!r}, which does not exist")
                     for target in dangling)
        if isinstance(node, MenuNode):
            digits = [option.digits for option in node.options]
            for repeated in sorted({d for d in digits if digits.count(d) > 1}):
                found.append(FlowError(node_id, f"two options use the digits {repeated!r}"))
            words = [word.lower() for option in node.options for word in option.words]
            if len(words) != len(set(words)):
                found.append(FlowError(node_id, "two options listen for the same word"))
        if isinstance(node, QueueNode):
            found.extend(_queue_problems(flow, node_id, node))
    if not found:
        found.extend(filter(None, (_say_loop(flow, node_id) for node_id in flow.nodes)))
    return found


def _queue_problems(flow: Flow, node_id: str, node: QueueNode) -> list[FlowError]:
    found = []
    if isinstance(flow.nodes.get(node.no_agents), QueueNode):
        found.append(FlowError(node_id, "no_agents must not lead to another queue"))
    if node.voicemail_key and node.voicemail_key == node.callback_key:
        found.append(FlowError(node_id, "voicemail_key and callback_key must differ"))
    if node.voicemail_key and not any(
        isinstance(other, VoicemailNode) for other in flow.nodes.values()
    ):
        found.append(FlowError(node_id, "voicemail_key needs a voicemail node in the flow"))
    return found


def _say_loop(flow: Flow, node_id: str) -> FlowError | None:
    """A chain of nodes a caller passes through without answering (`say`, `hours`) that
    comes back on itself would hold a caller for ever."""
    path: list[str] = []

    def walk(current: str) -> FlowError | None:
        node = flow.nodes[current]
        if not isinstance(node, PassThrough):
            return None
        if current in path:
            return FlowError(
                current, "say, hours and set nodes loop back on themselves with no way out"
            )
        path.append(current)
        for target in _targets(node):
            if (found := walk(target)) is not None:
                return found
        path.pop()
        return None

    return walk(node_id)


def parse(text: str, *, source: str = "flow") -> Flow:
    """A validated flow from YAML text, or FlowError naming the node and what is wrong."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise FlowError(None, f"{source} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise FlowError(None, f"{source} must be a mapping with name, start and nodes")
    return as_flow(data)


def as_flow(data: dict[str, Any]) -> Flow:
    """A validated flow from its document (parsed YAML, or the JSON the library stores)."""
    try:
        return Flow.model_validate(data)
    except ValidationError as error:
        raise _as_flow_error(error) from None


def _as_flow_error(error: ValidationError) -> FlowError:
    """Every problem pydantic found, each naming its node and field."""
    found: list[FlowError] = []
    for item in error.errors():
        raised = item.get("ctx", {}).get("error")
        if item["type"] == "value_error" and isinstance(raised, FlowError):
            found.extend(raised.problems)
            continue
        loc = [str(part) for part in item["loc"]]
        node = loc[1] if len(loc) > 1 and loc[0] == "nodes" else None
        field = ".".join(loc[3:] if node else loc)
        if item["type"] == "value_error" and isinstance(raised, ValueError) and not field:
            found.append(FlowError(node, str(raised)))  # a node's own check says it all
            continue
        found.append(FlowError(node, f"{field or 'flow'}: {item['msg']}"))
    return FlowError.of(found)


def line_of(text: str, node_id: str | None) -> int | None:
    """The line of the YAML text where the node is defined (1-based), if it can be found."""
    if node_id is None:
        return None
    try:
        document = yaml.compose(text)
    except yaml.YAMLError:
        return None
    if not isinstance(document, yaml.MappingNode):
        return None
    for key, value in document.value:
        if key.value == "nodes" and isinstance(value, yaml.MappingNode):
            for name, _node in value.value:
                if name.value == node_id:
                    return int(name.start_mark.line) + 1
    return None


def report(text: str, *, source: str) -> list[str]:
    """One line per problem of the YAML flow `text`, each naming the file and line, the
    node and the reason (empty when the flow is valid)."""
    try:
        parse(text, source=source)
    except FlowError as error:
        lines = []
        for problem in error.problems:
            line = line_of(text, problem.node)
            lines.append(f"{source}:{line}: {problem}" if line else f"{source}: {problem}")
        return lines
    return []


def queue_names(flow: Flow) -> dict[str, str]:
    """The routing queues a flow sends callers to: queue name -> the first node naming it."""
    found: dict[str, str] = {}
    for node_id, node in flow.nodes.items():
        if isinstance(node, QueueNode):
            found.setdefault(node.queue, node_id)
    return found


def json_schema() -> str:
    """The JSON Schema of a flow file, as `ivr/flow.schema.json` holds it."""
    return json.dumps(Flow.model_json_schema(), indent=2, sort_keys=True) + "\n"


def load(path: Path) -> Flow:
    return parse(path.read_text(encoding="utf-8"), source=str(path))

"""What a caller meets next in a flow, decided once for the webhooks and the simulator.

`enter` is reaching a node (following `say` nodes into what comes after them); `answer`
is a menu's Gather coming back with what the caller pressed or said. Both give an
`Outcome`: the prompts spoken, then what the call does (wait for input, wait in a queue,
record a message, hang up). Rendering an outcome as TwiML is `ivr.render`'s job, showing it
as text the simulator's; neither decides anything.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from callcenter.ivr.flow import (
    Flow,
    HangupNode,
    HoursNode,
    MenuNode,
    MenuOption,
    QueueNode,
    SayNode,
    SetNode,
    VoicemailNode,
)

# Said when a message was not left (Twilio skips the Record's action on silence).
NOTHING_RECORDED = "We did not receive a message. Goodbye."


@dataclass(frozen=True)
class Ask:
    """A menu waiting for keys or speech; its answer comes back to `node` at `attempt`."""

    node: str
    attempt: int
    prompt: str
    num_digits: int
    timeout: int
    speech: bool
    hints: str | None
    uses_hash: bool


@dataclass(frozen=True)
class Wait:
    """Waiting for an agent in the queue of node `node`."""

    node: str
    queue: str


@dataclass(frozen=True)
class Record:
    """Leaving a message at voicemail node `node`."""

    node: str
    prompt: str
    max_length: int


@dataclass(frozen=True)
class End:
    """The call ends (after `text`, if any)."""

    text: str = ""


@dataclass
class Outcome:
    """What the caller hears (`says`, in order) and then what happens (`then`), with the
    nodes passed through on the way (`path`)."""

    says: list[str] = field(default_factory=list)
    then: Ask | Wait | Record | End = field(default_factory=End)
    path: list[str] = field(default_factory=list)
    # What `set` nodes on the way set on the call (`merge_fields` adds them to its own).
    fields: dict[str, Any] = field(default_factory=dict)


TICKET_RANKS = ("low", "normal", "high", "urgent")


def merge_fields(held: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A call's fields with more set on them: the higher priority and ticket priority,
    every required skill."""
    merged = dict(held)
    if new.get("priority") is not None:
        merged["priority"] = max(merged.get("priority") or 0, new["priority"])
    if new.get("skills"):
        merged["skills"] = sorted({*merged.get("skills", []), *new["skills"]})
    if new.get("ticket_priority"):
        ranks = [TICKET_RANKS.index(p) for p in (merged.get("ticket_priority"),
                                                new["ticket_priority"]) if p]
        merged["ticket_priority"] = TICKET_RANKS[max(ranks)]
    return merged


def _opened(node: HoursNode, at: dt.datetime | None) -> bool:
    """Whether the node's hours are open at `at` (now when None; a time without a zone is
    the node's own wall-clock time, as the simulator sets it)."""
    calendar = node.calendar()
    when = at or dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=calendar.zone)
    return calendar.is_open(when)


def enter(
    flow: Flow, node_id: str, *, attempt: int = 1, staffed: frozenset[str] | None = None,
    outcome: Outcome | None = None, at: dt.datetime | None = None,
) -> Outcome:
    """Reaching `node_id` at `at` (now when None). `staffed` names the queues somebody
    staffs now (None: all): a queue node nobody staffs goes straight to its `no_agents`
    node rather than leave the caller waiting for no one."""
    outcome = outcome or Outcome()
    node = flow.node(node_id)
    while isinstance(node, SayNode | HoursNode | SetNode):
        outcome.path.append(node_id)
        if isinstance(node, SayNode):
            outcome.says.append(node.text)
            node_id = node.next
        elif isinstance(node, SetNode):
            outcome.fields = merge_fields(outcome.fields, node.model_dump(
                include={"priority", "skills", "ticket_priority"}))
            node_id = node.next
        else:
            node_id = node.open if _opened(node, at) else node.closed
        node = flow.node(node_id)
    outcome.path.append(node_id)
    if isinstance(node, MenuNode):
        outcome.then = Ask(
            node=node_id, attempt=attempt, prompt=node.prompt,
            num_digits=max(len(option.digits) for option in node.options),
            timeout=node.timeout, speech=node.speech,
            hints=", ".join(word for option in node.options for word in option.words) or None,
            uses_hash=any("#" in option.digits for option in node.options),
        )
    elif isinstance(node, QueueNode):
        if staffed is not None and node.queue not in staffed:
            return enter(flow, node.no_agents, outcome=outcome, at=at)
        outcome.then = Wait(node=node_id, queue=node.queue)
    elif isinstance(node, VoicemailNode):
        outcome.then = Record(node=node_id, prompt=node.prompt, max_length=node.max_length)
    elif isinstance(node, HangupNode):
        outcome.then = End(node.text)
    return outcome


def answer(
    flow: Flow, node_id: str, *, attempt: int, digits: str, speech: str,
    staffed: frozenset[str] | None = None, at: dt.datetime | None = None,
) -> Outcome:
    """A menu's answer: the chosen option's node; a wrong key or silence asks again (with
    the menu's explanation after a wrong key) until its last attempt, then `no_input`. A
    node that is not a menu (gone from an edited flow) starts the caller over."""
    node = flow.nodes.get(node_id)
    if not isinstance(node, MenuNode):
        return enter(flow, flow.start, staffed=staffed, at=at)
    option = choose(node, digits=digits.strip(), speech=speech.strip())
    if option is not None:
        return enter(flow, option.next, staffed=staffed, at=at)
    if attempt >= node.attempts:
        return enter(flow, node.no_input, staffed=staffed, at=at)
    outcome = Outcome()
    if digits.strip() or speech.strip():
        outcome.says.append(node.invalid)
    return enter(flow, node_id, attempt=attempt + 1, staffed=staffed, outcome=outcome, at=at)


def choose(node: MenuNode, *, digits: str, speech: str) -> MenuOption | None:
    """The option a caller picked by key, or by saying one of its words or phrases.

    Twilio's speech results are capitalised and punctuated ("Billing, please."), so both
    sides are compared as lists of words: "my shop is down" matches the word "down" and
    the phrase "shop is down".
    """
    if digits:
        return next((option for option in node.options if option.digits == digits), None)
    spoken = _words(speech)
    for option in node.options:
        for phrase in option.words:
            wanted = _words(phrase)
            if wanted and any(spoken[i : i + len(wanted)] == wanted for i in range(len(spoken))):
                return option
    return None


def _words(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.lower())

"""TwiML parsing and schema checks.

The document is parsed as it arrives, as strictly as Twilio's 12100 page describes: it
must be well-formed XML 1.0 with nothing at all (no blank line, no space, no comment)
before an XML declaration, and its root must be ``<Response>``. A DOCTYPE is refused
outright, so no entity (internal or external, XXE) is ever declared or expanded; an
empty body is refused too. Each of these is a 12100 parse failure. What XML allows is
kept: no declaration at all (whitespace may then precede the root), whitespace between
elements and after the root, comments, a UTF-8 byte order mark.

TwiML is case-sensitive. An unknown verb or noun (``<say>`` included) is a 12200 schema
error that makes the document unusable, as Twilio answers it with an application
error; an unknown attribute is a 12200 warning and is ignored.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
import xml.parsers.expat as expat
from dataclasses import dataclass, field

COMMON = frozenset()
SAY = frozenset({"voice", "language", "loop"})
PLAY = frozenset({"loop", "digits"})
PAUSE = frozenset({"length"})
GATHER = frozenset({
    "action", "method", "timeout", "finishOnKey", "numDigits", "input", "speechTimeout",
    "actionOnEmptyResult", "language", "hints", "partialResultCallback",
    "partialResultCallbackMethod", "profanityFilter", "speechModel", "enhanced", "bargeIn",
    "debug", "maxSpeechTime",
})
RECORD = frozenset({
    "action", "method", "timeout", "finishOnKey", "maxLength", "playBeep", "trim",
    "recordingStatusCallback", "recordingStatusCallbackMethod",
    "recordingStatusCallbackEvent", "transcribe", "transcribeCallback", "recordingChannels",
})
DIAL = frozenset({
    "action", "method", "timeout", "hangupOnStar", "timeLimit", "callerId", "record", "trim",
    "recordingStatusCallback", "recordingStatusCallbackMethod",
    "recordingStatusCallbackEvent", "answerOnBridge", "ringTone", "recordingTrack",
    "sequential", "referUrl", "referMethod", "events",
})
ENQUEUE = frozenset({"action", "method", "waitUrl", "waitUrlMethod", "workflowSid",
                     "maxQueueSize"})
CALLBACKS = frozenset({"statusCallbackEvent", "statusCallback", "statusCallbackMethod"})
CLIENT = frozenset({"url", "method"}) | CALLBACKS
NUMBER = frozenset({"sendDigits", "url", "method", "byoc", "machineDetection",
                    "amdStatusCallback", "amdStatusCallbackMethod"}) | CALLBACKS
QUEUE = frozenset({"url", "method", "reservationSid", "postWorkActivitySid"})
CONFERENCE = frozenset({
    "muted", "beep", "startConferenceOnEnter", "endConferenceOnExit", "waitUrl", "waitMethod",
    "maxParticipants", "record", "region", "coach", "trim", "recordingStatusCallback",
    "recordingStatusCallbackMethod", "recordingStatusCallbackEvent", "eventCallbackUrl",
    "jitterBufferSize", "participantLabel",
}) | CALLBACKS
SSML = frozenset({"break", "emphasis", "lang", "p", "phoneme", "prosody", "s", "say-as",
                  "sub", "w", "amazon:effect", "amazon:domain"})

VERBS: dict[str, frozenset[str]] = {
    "Say": SAY, "Play": PLAY, "Pause": PAUSE, "Gather": GATHER, "Record": RECORD,
    "Dial": DIAL, "Enqueue": ENQUEUE, "Leave": COMMON, "Hangup": COMMON,
    "Reject": frozenset({"reason"}), "Redirect": frozenset({"method"}),
    # Valid TwiML the emulator accepts but does not act on (logged in the trace).
    "Connect": frozenset({"action", "method"}), "Start": frozenset({"action", "method"}),
    "Stop": COMMON, "Refer": frozenset({"action", "method"}), "Pay": frozenset(),
    "Echo": COMMON, "Sms": frozenset({"to", "from", "action", "method", "statusCallback"}),
}
CHILDREN: dict[str, dict[str, frozenset[str]]] = {
    "Gather": {"Say": SAY, "Play": PLAY, "Pause": PAUSE},
    "Dial": {"Client": CLIENT, "Number": NUMBER, "Queue": QUEUE, "Conference": CONFERENCE,
             "Sip": frozenset({"url", "method", "username", "password"}) | CALLBACKS},
    "Client": {"Identity": COMMON, "Parameter": frozenset({"name", "value"})},
    "Enqueue": {"Task": frozenset({"priority", "timeout"})},
}
OPEN_CONTENT = {"Connect", "Start", "Stop", "Pay", "Refer", "Say"}


class TwimlError(Exception):
    """A document Twilio would refuse; ``code`` is the Twilio error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    text: str = ""
    children: list[Node] = field(default_factory=list)

    def get(self, name: str, default: str = "") -> str:
        return self.attrs.get(name, default)

    def describe(self) -> dict[str, object]:
        """Trace form: verb name, attributes and text."""
        out: dict[str, object] = {"verb": self.tag, "attrs": dict(self.attrs)}
        if self.text:
            out["text"] = self.text
        if self.children:
            out["children"] = [c.describe() for c in self.children]
        return out


class _Doctype(Exception):
    """Raised from the expat handler that sees a DOCTYPE."""


def _refuse_doctype(name: str, *_: object) -> None:
    raise _Doctype(name)


def document_root(document: str) -> ET.Element:
    """The ``<Response>`` element of a TwiML document, checked as Twilio checks it
    (voice and messaging alike); raises :class:`TwimlError` 12100 otherwise.

    The document is parsed exactly as received: nothing is stripped, so whitespace
    before an XML declaration is the error it is in XML ("declaration not at start").
    """
    if not document.strip():
        raise TwimlError(12100, "Document parse failure: the response body is empty")
    # First pass with a bare expat parser: well-formedness, and the DOCTYPE refused at
    # its first token, before any entity in it is declared (so none can be expanded).
    checker = expat.ParserCreate()
    checker.StartDoctypeDeclHandler = _refuse_doctype
    try:
        checker.Parse(document, True)
    except _Doctype as exc:
        raise TwimlError(12100, f"Document parse failure: DOCTYPE <!DOCTYPE {exc} ...> "
                                "is not allowed (no DTD, no entities)") from None
    except expat.ExpatError as exc:
        raise TwimlError(12100, f"Document parse failure: {exc}") from None
    try:
        root = ET.fromstring(document)
    except ET.ParseError as exc:  # e.g. an unbound namespace prefix
        raise TwimlError(12100, f"Document parse failure: {exc}") from None
    if root.tag != "Response":
        raise TwimlError(12100, f"Document parse failure: the root element is <{root.tag}>, "
                                "not <Response>")
    return root


def parse(document: str) -> tuple[list[Node], list[str]]:
    """Parse a TwiML document into verbs; returns (verbs, 12200 warnings)."""
    root = document_root(document)
    warnings: list[str] = []
    verbs = [_convert(el, VERBS, warnings, "Response") for el in root]
    return verbs, warnings


def _convert(
    el: ET.Element, allowed: dict[str, frozenset[str]], warnings: list[str], parent: str
) -> Node:
    if el.tag not in allowed:
        raise TwimlError(12200, f"Schema validation error: <{el.tag}> is not allowed in "
                                f"<{parent}>")
    attrs = dict(el.attrib)
    for name in list(attrs):
        if name not in allowed[el.tag]:
            warnings.append(f"Schema validation warning: unknown attribute {name!r} on "
                            f"<{el.tag}>")
            del attrs[name]
    node = Node(el.tag, attrs, (el.text or "").strip())
    if el.tag in OPEN_CONTENT:
        if el.tag == "Say":
            node.text = " ".join("".join(el.itertext()).split())
        return node
    kids = CHILDREN.get(el.tag, {})
    for child in el:
        node.children.append(_convert(child, kids, warnings, el.tag))
    return node


def as_bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() == "true"


def as_number(value: str | None, default: float) -> float:
    try:
        return float(value) if value not in (None, "") else default
    except ValueError:
        return default

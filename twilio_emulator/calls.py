"""The Call resource and the per-call state the TwiML engine works on."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .bridges import Bridge
    from .recordings import Recording

FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


@dataclass
class Source:
    """Where the next TwiML document comes from: a URL to fetch or inline TwiML."""

    url: str | None = None
    method: str = "POST"
    twiml: str | None = None
    params: list[tuple[str, str]] = field(default_factory=list)
    fallback_url: str | None = None
    fallback_method: str = "POST"


@dataclass
class Event:
    """Something the remote party did: digits, speech (start/end) or hangup."""

    kind: str
    value: str = ""
    duration: float = 0.0


@dataclass
class Call:
    sid: str
    account_sid: str
    from_: str
    to: str
    direction: str
    created: float
    parent_sid: str | None = None
    status: str = "queued"
    answered: bool = False
    start_time: float | None = None
    answer_time: float | None = None
    end_time: float | None = None
    phone_number_sid: str | None = None
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_events: frozenset[str] = frozenset({"completed"})
    caller_name: str | None = None
    queue_time: float = 0.0
    queue_result: str | None = None
    trace: list[dict[str, Any]] = field(default_factory=list)
    heard: list[dict[str, Any]] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)
    recordings: list[str] = field(default_factory=list)
    custom_params: dict[str, str] = field(default_factory=dict)
    # runtime state
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    answered_event: asyncio.Event = field(default_factory=asyncio.Event)
    inbox: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    listening: str | None = None
    bridge: Bridge | None = None
    in_conference: bool = False
    queue_member: Any = None
    taps: list[tuple[Recording, int]] = field(default_factory=list)
    redirect: Source | None = None
    pending_status: str | None = None
    exec_task: asyncio.Task[Any] | None = None
    has_twiml: bool = True
    sequence: itertools.count[int] = field(default_factory=itertools.count)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def done(self) -> bool:
        return self.status in FINAL_STATUSES

    def set_listening(self, mode: str | None) -> None:
        """Tell waiting script steps what input the call accepts now."""
        self.listening = mode
        self.changed()

    def changed(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_change(self) -> None:
        await self._changed.wait()

    def drain_inbox(self) -> None:
        while not self.inbox.empty():
            self.inbox.get_nowait()

    def duration(self, now: float) -> int:
        if self.answer_time is None:
            return 0
        return round((self.end_time if self.end_time is not None else now)
                     - self.answer_time)

"""Two call legs talking to each other (Dial to a number/client or to a queue member)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .calls import Call
    from .engine import Engine
    from .recordings import Recording


class Bridge:
    """A connection between ``a`` (the dialling call) and ``b`` (the dialled one).

    When it ends, a leg that has no TwiML of its own (a Dial child leg) hangs up; a leg
    with TwiML (a dequeued caller) goes back to its document.
    """

    def __init__(self, engine: Engine, a: Call, b: Call) -> None:
        self.engine = engine
        self.a = a
        self.b = b
        self.start = engine.clock.now()
        self.end: float | None = None
        self.ended = asyncio.Event()
        self.recording: Recording | None = None
        for leg in (a, b):
            leg.bridge = self
            leg.changed()

    def peer(self, call: Call) -> Call:
        return self.b if call is self.a else self.a

    def duration(self) -> int:
        end = self.end if self.end is not None else self.engine.clock.now()
        return round(end - self.start)

    def close(self) -> None:
        if self.ended.is_set():
            return
        self.end = self.engine.clock.now()
        self.ended.set()
        if self.recording is not None:
            self.engine.recordings.finish(self.recording)
        for leg in (self.a, self.b):
            leg.bridge = None
            leg.changed()
            if not leg.has_twiml and not leg.done:
                self.engine.spawn(self.engine.end_call(leg, "completed"))

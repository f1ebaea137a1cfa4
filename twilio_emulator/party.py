"""Scripted callers and callees: the people on the far end of a call.

A script is a list of steps run in order. A step that needs the call in some state
(``press`` needs a Gather or Record listening, ``say`` needs someone or something
listening) waits until the call gets there. After the last step the party stays on
the line silently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .calls import Call, Event

if TYPE_CHECKING:
    from .engine import Engine

DEFAULT_RING_SECONDS = 1.0
"""How long a callee with no ``answer`` step rings before it answers."""
DTMF_MODES = ("dtmf", "dtmf speech", "record")


class ScriptParty:
    def __init__(self, engine: Engine, call: Call, steps: list[dict[str, Any]],
                 hangup_after: float | None = None) -> None:
        self.engine = engine
        self.call = call
        self.steps = list(steps or [])
        self.hangup_after = hangup_after
        self.pos = 0

    async def ring(self, ring_for: float) -> str:
        """Callee side of ringing: 'answer', 'busy', 'failed' or 'no-answer'."""
        clock = self.engine.clock
        answer_at = next((i for i, s in enumerate(self.steps) if "answer" in s), None)
        if answer_at is None:
            decision, wait = "answer", DEFAULT_RING_SECONDS
        else:
            decision = str(self.steps[answer_at]["answer"])
            wait = sum(float(s.get("wait", 0)) for s in self.steps[:answer_at])
            self.pos = answer_at + 1
        if decision == "failed":
            return "failed"
        if decision == "no-answer" or wait >= ring_for:
            await clock.sleep(ring_for)
            return "no-answer"
        await clock.sleep(wait)
        return "busy" if decision == "busy" else "answer"

    async def run(self) -> None:
        """The party's behaviour once the call is answered."""
        call, engine = self.call, self.engine
        if self.hangup_after is not None:
            engine.spawn(self._hangup_later(float(self.hangup_after)))
        for step in self.steps[self.pos:]:
            if call.done:
                return
            if "wait" in step:
                await engine.clock.sleep(float(step["wait"]))
            elif step.get("until") == "conference":
                # Someone to talk to: the caller waits for the agent before speaking.
                await self._until(lambda: call.in_conference)
            elif "press" in step:
                await self._until(lambda: call.listening in DTMF_MODES)
                if call.done:
                    return
                engine.trace(call, "press", digits=str(step["press"]))
                call.inbox.put_nowait(Event("digits", str(step["press"])))
                await self._consumed()
            elif "say" in step:
                await self._until(lambda: bool(call.listening or call.bridge
                                               or call.in_conference or call.taps))
                if call.done:
                    return
                await engine.speak(call, str(step["say"]), str(step.get("lang", "en")))
                await self._consumed()
            elif step.get("hangup"):
                await engine.remote_hangup(call)
                return
            elif "hangup_after" in step:
                engine.spawn(self._hangup_later(float(step["hangup_after"])))

    async def _hangup_later(self, seconds: float) -> None:
        base = self.call.answer_time if self.call.answer_time is not None else 0.0
        await self.engine.clock.sleep(max(0.0, base + seconds - self.engine.now()))
        if not self.call.done:
            await self.engine.remote_hangup(self.call)

    async def _until(self, predicate: Callable[[], bool]) -> None:
        while not predicate() and not self.call.done:
            await self.call.wait_change()

    async def _consumed(self) -> None:
        """Wait until the listener took the input (or stopped listening)."""
        call = self.call
        while not call.inbox.empty() and call.listening and not call.done:
            await call.wait_change()
        await asyncio.sleep(0)

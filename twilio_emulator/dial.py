"""<Dial>: ring numbers or clients (first to answer wins), dequeue, or join a conference."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from .bridges import Bridge
from .calls import Call
from .interpreter import Doc, Outcome
from .twiml import Node, as_number

if TYPE_CHECKING:
    from .engine import Engine

MAX_PARALLEL = 10


class Dialer:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def dial_verb(self, call: Call, node: Node, doc: Doc) -> Outcome:
        engine = self.engine
        timeout = as_number(node.get("timeout"), 30)
        nouns = node.children or ([Node("Number", {}, node.text)] if node.text else [])
        if not nouns:
            return None
        started = engine.now()
        status, peer, bridge = "failed", None, None
        params: list[tuple[str, str]] = []
        try:
            head = nouns[0]
            if head.tag == "Conference":
                await engine.conferences.join(call, head, doc)
                status = "completed"
            elif head.tag == "Queue":
                status, peer, bridge = await engine.queues.dial_queue(
                    call, head.text, head, doc, timeout)
            else:
                status, peer, bridge = await self._ring_all(call, node, nouns, timeout)
            if bridge is not None:
                engine.answer(call)
                engine.trace(call, "bridged", peer=bridge.peer(call).sid)
                self._maybe_record(call, node, bridge)
                await bridge.ended.wait()
        except asyncio.CancelledError:
            if call.done:
                params = self._params(call, status, peer, bridge, started)
                source = engine.interpreter.action_source(doc, node, params)
                if source is not None:
                    engine.spawn(engine.queues._notify(call, source))
            raise
        params = self._params(call, status, peer, bridge, started)
        return engine.interpreter.action_source(doc, node, params)

    def _params(self, call: Call, status: str, peer: Call | None, bridge: Bridge | None,
                started: float) -> list[tuple[str, str]]:
        duration = bridge.duration() if bridge else (
            round(self.engine.now() - started) if status == "completed" else 0)
        params = [("DialCallStatus", status), ("DialCallDuration", str(duration)),
                  ("DialBridged", "true" if bridge is not None else "false")]
        if peer is not None:
            params.insert(1, ("DialCallSid", peer.sid))
        rec = bridge.recording if bridge else None
        if rec is not None:
            params += [("RecordingUrl", self.engine.recordings.url(rec)),
                       ("RecordingSid", rec.sid), ("RecordingDuration", str(rec.duration))]
        return params

    def _maybe_record(self, call: Call, node: Node, bridge: Bridge) -> None:
        mode = node.get("record", "do-not-record")
        if mode in ("", "do-not-record", "false"):
            return
        channels = 2 if mode.endswith("dual") else 1
        bridge.recording = self.engine.recordings.start(
            call, "DialVerb", channels,
            callback=node.get("recordingStatusCallback") or None,
            callback_method=node.get("recordingStatusCallbackMethod") or "POST",
            callback_events=node.get("recordingStatusCallbackEvent") or "completed",
            taps=[(call, 0), (bridge.peer(call), 1 if channels == 2 else 0)])

    async def _ring_all(self, call: Call, node: Node, nouns: list[Node], ring_for: float
                        ) -> tuple[str, Call | None, Bridge | None]:
        engine = self.engine
        caller_id = node.get("callerId") or call.from_
        legs: dict[asyncio.Future[str], Call] = {}
        for noun in nouns[:MAX_PARALLEL]:
            if noun.tag == "Client":
                ident = noun.text or next((c.text for c in noun.children
                                           if c.tag == "Identity"), "")
                to = "client:" + ident
            elif noun.tag in ("Number", "Sip"):
                to = noun.text
            else:
                continue
            events = frozenset((noun.get("statusCallbackEvent") or "completed").split())
            leg = engine.start_child(call, to, call.from_ if noun.tag == "Client" else caller_id,
                                     status_callback=noun.get("statusCallback") or None,
                                     status_callback_method=noun.get("statusCallbackMethod")
                                     or "POST", status_events=events)
            leg.custom_params = {c.get("name"): c.get("value") for c in noun.children
                                 if c.tag == "Parameter"}
            engine.trace(call, "dial-leg", call_sid=leg.sid, to=to)
            legs[asyncio.ensure_future(engine.ring(leg, ring_for))] = leg
        if not legs:
            return "failed", None, None
        winner: Call | None = None
        outcomes: list[str] = []
        pending = set(legs)
        try:
            while pending and winner is None:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    leg, result = legs[task], task.result()
                    if result == "answer" and winner is None:
                        winner = leg
                    else:
                        outcomes.append(result if result != "answer" else "canceled")
                        await engine.end_call(leg, result if result != "answer" else "completed")
        finally:
            for task in pending:
                await engine.end_call(legs[task], "canceled")
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if winner is not None and call.done:
                await engine.end_call(winner, "completed")
        if winner is not None:
            engine.answer(winner)
            return "completed", winner, Bridge(engine, call, winner)
        for status in ("no-answer", "busy", "failed", "canceled"):
            if status in outcomes:
                last = next(leg for leg in legs.values() if leg.status == status)
                return status, last, None
        return "failed", None, None



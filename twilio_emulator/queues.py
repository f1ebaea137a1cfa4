"""Queues, their members, <Enqueue> with its wait-music loop, and dequeuing.

A member leaves its queue in one of these ways, each giving the Enqueue action its
QueueResult: bridged (<Dial><Queue>; action after the bridge ends), redirected (REST
Members dequeue or a Calls redirect; action requested at once, its TwiML ignored and
the new Url run), leave (<Leave>; action at once), hangup (caller hung up; action
requested, TwiML ignored), system-error (the wait URL failed).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .bridges import Bridge
from .calls import Call, Source
from .interpreter import LEAVE, STOP, Doc, Outcome
from .sids import new_sid
from .twiml import Node

if TYPE_CHECKING:
    from .engine import Engine

WAIT_VERBS = frozenset({"Play", "Say", "Pause", "Hangup", "Redirect", "Leave", "Gather"})
URL_VERBS = frozenset({"Play", "Say", "Pause", "Redirect"})
DEFAULT_MAX_SIZE = 1000
"""Twilio's documented default MaxSize for a queue (Queue resource; maximum 5000)."""
DEFAULT_HOLD_MUSIC = "http://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3"
HOLD_MUSIC_SECONDS = 60.0


@dataclass
class Member:
    call: Call
    queue: Queue
    enqueued: float
    outcome: asyncio.Future[tuple[Any, ...]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())


@dataclass
class Queue:
    sid: str
    friendly_name: str
    max_size: int
    created: float
    updated: float
    members: list[Member] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def position(self, member: Member) -> int:
        return self.members.index(member) + 1

    def average_wait(self, now: float) -> int:
        if not self.members:
            return 0
        return int(sum(now - m.enqueued for m in self.members) / len(self.members))

    def find(self, call_sid: str) -> Member | None:
        if call_sid == "Front":
            return self.members[0] if self.members else None
        return next((m for m in self.members if m.call.sid == call_sid), None)


class Queues:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.by_sid: dict[str, Queue] = {}

    def create(self, name: str, max_size: int = DEFAULT_MAX_SIZE) -> Queue:
        now = self.engine.now()
        queue = Queue(new_sid("QU"), name, max_size, now, now)
        self.by_sid[queue.sid] = queue
        return queue

    def by_name(self, name: str) -> Queue | None:
        return next((q for q in self.by_sid.values() if q.friendly_name == name), None)

    def remove(self, member: Member) -> None:
        if member in member.queue.members:
            member.queue.members.remove(member)
            member.queue.updated = self.engine.now()
        member.call.queue_member = None
        member.call.queue_time = self.engine.now() - member.enqueued

    def dequeue_by_rest(self, member: Member, source: Source) -> None:
        """REST Members update: take the caller out and run ``source`` on it."""
        self.remove(member)
        if not member.outcome.done():
            member.outcome.set_result(("redirected", source))

    # ---- <Enqueue> ------------------------------------------------------------------
    async def enqueue_verb(self, call: Call, node: Node, doc: Doc) -> Outcome:
        engine = self.engine
        name = node.text or "default"
        queue = self.by_name(name) or self.create(name)
        if len(queue.members) >= queue.max_size:
            engine.log_error(14207, "Enqueue: The targeted queue reached max queue size "
                             f"({queue.max_size})", call, doc.url, queue=name)
            return self._result(call, queue, node, doc, "queue-full", 0)
        member = Member(call, queue, engine.now())
        queue.members.append(member)
        queue.updated = engine.now()
        queue.arrived.set()
        queue.arrived = asyncio.Event()
        call.queue_member = member
        call.changed()
        engine.trace(call, "enqueued", queue=name, queue_sid=queue.sid)
        waiting = asyncio.ensure_future(self._wait_loop(call, member, node, doc))
        try:
            await asyncio.wait({member.outcome, waiting}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            waiting.cancel()
            result = "hangup" if call.done else "redirected"
            self.remove(member)
            self._result(call, queue, node, doc, result, self._waited(member), background=True)
            raise
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
        if member.outcome.done():
            kind, *data = member.outcome.result()
        else:
            kind, data = waiting.result(), []
        self.remove(member)
        waited = self._waited(member)
        if kind == "redirected":
            self._result(call, queue, node, doc, "redirected", waited, background=True)
            return data[0]
        if kind == "bridge":
            try:
                return await self._bridged(call, member, node, doc, *data)
            except asyncio.CancelledError:
                self._result(call, queue, node, doc, "bridged", round(call.queue_time),
                             background=True)
                raise
        if kind == "hangup":
            self._result(call, queue, node, doc, "hangup", waited, background=True)
            return STOP
        return self._result(call, queue, node, doc, kind, waited)

    def _waited(self, member: Member) -> int:
        return round(self.engine.now() - member.enqueued)

    def _result(self, call: Call, queue: Queue, node: Node, doc: Doc, result: str,
                waited: int, background: bool = False) -> Source | None:
        """Record the QueueResult and build (or send in the background) the action."""
        call.queue_result = result
        self.engine.trace(call, "queue-result", result=result, queue_time=waited)
        params = [("QueueResult", result), ("QueueSid", queue.sid), ("QueueTime", str(waited))]
        source = self.engine.interpreter.action_source(doc, node, params)
        if source is not None and background:
            self.engine.spawn(self._notify(call, source))
            return None
        return source

    async def _notify(self, call: Call, source: Source) -> None:
        """An action request whose TwiML is not used (the call went elsewhere)."""
        assert source.url is not None
        params = self.engine.voice_params(call) + source.params
        result = await self.engine.webhooks.send(source.url, params, source.method)
        self.engine.trace(call, "webhook", url=source.url, method=source.method,
                          status=result.status, params=dict(params), ignored=True)

    def _wait_params(self, member: Member) -> list[tuple[str, str]]:
        queue, now = member.queue, self.engine.now()
        position = queue.position(member) if member in queue.members else 0
        return [("QueuePosition", str(position)), ("QueueSid", queue.sid),
                ("QueueTime", str(int(now - member.enqueued))),
                ("AvgQueueTime", str(queue.average_wait(now))),
                ("CurrentQueueSize", str(len(queue.members))),
                ("MaxQueueSize", str(queue.max_size))]

    async def _wait_loop(self, call: Call, member: Member, node: Node, doc: Doc) -> str:
        """Run the wait music until something ends it; returns the way it ended."""
        engine = self.engine
        wait_url = node.get("waitUrl")
        if not wait_url:
            while True:
                call.heard.append({"verb": "Play", "url": DEFAULT_HOLD_MUSIC})
                await engine.clock.sleep(HOLD_MUSIC_SECONDS)
        home = Source(url=doc.resolve(wait_url), method=node.get("waitUrlMethod") or "POST")
        source = home
        while True:
            # A Gather's action in the wait music gets its Digits with the queue's figures.
            source.params = [*source.params, *self._wait_params(member)]
            wait_doc = await engine.interpreter.load(call, source)
            if wait_doc is None:
                return "system-error"
            outcome = await engine.interpreter.execute(call, wait_doc, allowed=WAIT_VERBS)
            if outcome is LEAVE:
                return "leave"
            if outcome is STOP:
                return "hangup"
            source = outcome if isinstance(outcome, Source) else Source(home.url, home.method)

    async def _bridged(self, call: Call, member: Member, node: Node, doc: Doc,
                       dequeuer: Call, url_source: Source | None,
                       ready: asyncio.Future[None], bridged: asyncio.Future[Bridge]) -> Outcome:
        """The dequeued caller's side of <Dial><Queue>: optional url TwiML, then talk."""
        engine = self.engine
        try:
            if url_source is not None:
                url_source.params = [("QueueSid", member.queue.sid),
                                     ("QueueTime", str(self._waited(member))),
                                     ("DequeingCallSid", dequeuer.sid)]
                url_doc = await engine.interpreter.load(call, url_source)
                if url_doc is not None:
                    await engine.interpreter.execute(call, url_doc, allowed=URL_VERBS)
        finally:
            if not ready.done():
                ready.set_result(None)
        bridge = await bridged
        await bridge.ended.wait()
        return self._result(call, member.queue, node, doc, "bridged",
                            round(member.call.queue_time))

    # ---- <Dial><Queue> ----------------------------------------------------------------
    async def dial_queue(self, dialer: Call, name: str, noun: Node, doc: Doc,
                         ring_for: float) -> tuple[str, Call | None, Bridge | None]:
        """Connect ``dialer`` to the head of queue ``name``; waits up to ``ring_for``."""
        queue = self.by_name(name)
        if queue is None:
            return "failed", None, None
        deadline = self.engine.now() + ring_for
        while not queue.members:
            left = deadline - self.engine.now()
            if left <= 0:
                return "no-answer", None, None
            arrived = asyncio.ensure_future(queue.arrived.wait())
            sleeper = asyncio.ensure_future(self.engine.clock.sleep(left))
            await asyncio.wait({arrived, sleeper}, return_when=asyncio.FIRST_COMPLETED)
            arrived.cancel()
            sleeper.cancel()
        member = queue.members[0]
        self.remove(member)
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        bridged: asyncio.Future[Bridge] = loop.create_future()
        url = noun.get("url")
        url_source = Source(url=doc.resolve(url), method=noun.get("method") or "POST") \
            if url else None
        member.outcome.set_result(("bridge", dialer, url_source, ready, bridged))
        ended = asyncio.ensure_future(member.call.ended.wait())
        await asyncio.wait({ready, ended}, return_when=asyncio.FIRST_COMPLETED)
        ended.cancel()
        if member.call.done:
            return "failed", member.call, None
        bridge = Bridge(self.engine, dialer, member.call)
        bridged.set_result(bridge)
        return "completed", member.call, bridge

"""Named events: what happened, for the pages and instances that want to know at once.

A flow or service records an event inside its unit of work (`record(session, name, ...)`);
it is published only after that transaction commits, and never if it rolls back. Events
carry ids and the few fields a page needs, never the state itself: the store is the
truth, and a subscriber that missed something reads it again.

Two buses, chosen by `events_backend`:

- `LocalBus` (the default): subscribers in this process hear this process's events.
- `RedisBus`: events go through one Redis pub/sub channel, so every instance's subscribers
  hear every instance's events. Redis rather than PostgreSQL LISTEN/NOTIFY because it works
  the same whatever the store (SQLite instances included), the worker already uses it, and
  a slow subscriber costs the database nothing. Pub/sub keeps nothing: a message sent
  while an instance is cut off is lost to it, which is why subscribers are told to resync.

Subscribers get `Event`s, and `RESYNC` whenever they may have missed some (their queue
overflowed, or Redis went away and came back): on `RESYNC`, read the store again. An
instance that loses Redis keeps working: its own events still reach its own subscribers,
who are told to resync, and it reconnects in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from callcenter import unit_of_work

log = logging.getLogger("callcenter.events")

CHANNEL = "callcenter.events"
QUEUE_SIZE = 1000


@dataclass(frozen=True)
class Event:
    """`name` is dotted by domain (`routing.agent.state_changed`); `data` is JSON-able."""

    name: str
    data: dict[str, Any]
    at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def to_json(self) -> str:
        return json.dumps({"name": self.name, "data": self.data, "at": self.at, "id": self.id})

    @classmethod
    def from_json(cls, raw: str | bytes) -> Event:
        parsed = json.loads(raw)
        return cls(name=parsed["name"], data=parsed["data"], at=parsed["at"], id=parsed["id"])


class _Resync:
    def __repr__(self) -> str:
        return "RESYNC"


# Told to subscribers that may have missed events: read the store again.
RESYNC: Final = _Resync()
Message = Event | _Resync


def record(session: Any, name: str, **data: Any) -> None:
    """Note that `name` happened, to be published once `session`'s transaction commits."""
    unit_of_work.pending(session, unit_of_work.EVENTS).append(Event(name=name, data=data))


class Subscription:
    """One subscriber's events, in order, matching its name prefixes (all when none)."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        self.prefixes = prefixes
        self.queue: asyncio.Queue[Message] = asyncio.Queue(QUEUE_SIZE)

    def wants(self, event: Event) -> bool:
        return not self.prefixes or event.name.startswith(self.prefixes)

    def deliver(self, message: Message) -> None:
        """Never blocks the publisher: a subscriber too slow to keep up is told to resync."""
        if isinstance(message, Event) and not self.wants(message):
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(RESYNC)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Message:
        return await self.queue.get()


class LocalBus:
    """Events for this process's subscribers only."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()

    @contextlib.asynccontextmanager
    async def subscribe(self, *prefixes: str) -> AsyncIterator[Subscription]:
        """`async with bus.subscribe("routing.", "telephony.") as events: async for ...`"""
        subscription = Subscription(prefixes)
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)

    def _deliver(self, message: Message) -> None:
        for subscription in list(self._subscriptions):
            subscription.deliver(message)

    async def publish(self, events: Iterable[Event]) -> None:
        for event in events:
            self._deliver(event)

    async def start(self) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        self._subscriptions.clear()


# On the wire: what an instance that was cut off sends when back, so that the others,
# which may have missed its events, tell their subscribers to resync.
RESYNC_WIRE = "resync"
# How long the listener waits for a message before it pings Redis to check it is there.
PING_SECONDS = 5.0


def _decode(raw: str | bytes) -> Message:
    if raw in (RESYNC_WIRE, RESYNC_WIRE.encode()):
        return RESYNC
    return Event.from_json(raw)


class RedisBus(LocalBus):
    """Every instance's events, through one Redis pub/sub channel."""

    def __init__(self, url: str, *, retry_seconds: float = 1.0) -> None:
        super().__init__()
        self.url = url
        self.retry_seconds = retry_seconds
        self._redis: Any = None
        self._listening: Any = None
        self._listener: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    async def start(self) -> None:
        import redis.asyncio as redis  # only instances that use Redis need the client

        # Publishing gives up after 2 s (a hung Redis must not pile up follow-ups); the
        # listener waits on its channel and pings when it is quiet, to notice a silent loss.
        self._redis = redis.Redis.from_url(self.url, socket_connect_timeout=2, socket_timeout=2)
        self._listening = redis.Redis.from_url(self.url, socket_connect_timeout=2)
        self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def publish(self, events: Iterable[Event]) -> None:
        """Through Redis, which echoes them to our own listener too; if Redis is away,
        straight to our own subscribers, who are told they may be missing others'."""
        events = list(events)
        try:
            if self._redis is None or not self.connected.is_set():
                raise ConnectionError("not connected to Redis")
            async with self._redis.pipeline(transaction=False) as pipe:
                for event in events:
                    pipe.publish(CHANNEL, event.to_json())
                await pipe.execute()
        except Exception as error:
            log.warning("events.redis.publish_failed", extra={"error": str(error)})
            for event in events:
                self._deliver(event)

    async def _listen(self) -> None:
        """Relay the channel to our subscribers. A lost connection (refused, reset, or
        silent: no answer to our pings) is retried every `retry_seconds`; meanwhile and on
        coming back our subscribers are told to resync, and on coming back so is every
        other instance, since events we published meanwhile reached our subscribers only."""
        lost = False
        loop = asyncio.get_running_loop()
        while True:
            pubsub = self._listening.pubsub()
            try:
                await pubsub.subscribe(CHANNEL)
                self.connected.set()
                if lost:
                    log.info("events.redis.reconnected")
                    await self._redis.publish(CHANNEL, RESYNC_WIRE)
                    lost = False
                heard = loop.time()
                while True:
                    message = await pubsub.get_message(timeout=PING_SECONDS)
                    if message is not None:
                        heard = loop.time()
                        if message["type"] == "message":
                            self._deliver(_decode(message["data"]))
                        continue
                    if loop.time() - heard > 2 * PING_SECONDS:
                        raise ConnectionError("Redis stopped answering")
                    await pubsub.ping()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.connected.clear()
                if not lost:
                    log.warning("events.redis.lost", extra={"error": str(error)})
                    self._deliver(RESYNC)
                lost = True
                await asyncio.sleep(self.retry_seconds)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        for client in (self._redis, self._listening):
            if client is not None:
                await client.aclose()
        await super().close()


Bus = LocalBus


def build_bus(backend: str, *, redis_url: str) -> Bus:
    """The bus the settings ask for."""
    return RedisBus(redis_url) if backend == "redis" else LocalBus()

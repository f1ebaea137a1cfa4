"""The board's feed: one subscriber to the event bus per instance, one snapshot per burst
of events, handed to every board connected to this instance.

Events say that something changed, not what the board should show: on each one (or on a
RESYNC, when events may have been missed) the feed waits a moment for the rest of the
burst, reads a fresh snapshot from the store and gives it to every listener. A listener
that has not taken the last snapshot yet gets the newer one in its place: a slow page
skips pictures, never falls behind. Events from other instances arrive through the bus
(Redis), so a board shows a call that came through any instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.db import transaction, utcnow
from callcenter.events import Bus, Event
from callcenter.reports import board

log = logging.getLogger("callcenter.reports")

# What the board shows is made of these domains' events.
PREFIXES = ("routing.", "telephony.")
# How long a burst of events is gathered into one snapshot.
SETTLE_SECONDS = 0.05
# A board connecting is given the feed's latest snapshot while it is this fresh (events
# since would have replaced it), so boards reconnecting together cost one read, not one each.
FRESH_SECONDS = 30.0
# With no event for this long a new snapshot is read anyway (today's figures roll over at
# midnight); a read that failed is tried again after RETRY_SECONDS.
REFRESH_SECONDS = 60.0
RETRY_SECONDS = 1.0


class Listener:
    """One connected board's next snapshot (only the newest is kept)."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1)

    def offer(self, picture: dict[str, Any]) -> None:
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(picture)

    async def next(self) -> dict[str, Any]:
        return await self._queue.get()


class BoardFeed:
    def __init__(
        self,
        bus: Bus,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        zone: ZoneInfo,
        settle_seconds: float = SETTLE_SECONDS,
    ) -> None:
        self.bus = bus
        self.sessionmaker = sessionmaker
        self.zone = zone
        self.settle_seconds = settle_seconds
        self._listeners: set[Listener] = set()
        self._runner: asyncio.Task[None] | None = None
        # The latest snapshot handed out, and when (the loop's clock); None once outdated.
        self._latest: tuple[dict[str, Any], float] | None = None

    async def picture(self, *, cause: Event | None = None) -> dict[str, Any]:
        """A fresh snapshot; `cause`: the newest event it follows (its name and time, so a
        page can tell how long an event took to reach the screen)."""
        async with transaction(self.sessionmaker) as session:
            snapshot = await board.snapshot(session, now=utcnow(), zone=self.zone)
        snapshot["event"] = None if cause is None else {"name": cause.name, "at": cause.at}
        return snapshot

    @contextlib.asynccontextmanager
    async def listen(self) -> AsyncIterator[Listener]:
        """A board's stream of snapshots, starting with one read now."""
        listener = Listener()
        self._listeners.add(listener)
        loop = asyncio.get_running_loop()
        if self._runner is None or self._runner.done():
            self._runner = loop.create_task(self._run())
            self._latest = None
        try:
            if self._latest is not None and loop.time() - self._latest[1] < FRESH_SECONDS:
                listener.offer(self._latest[0])
            else:
                picture = await self.picture()
                self._latest = (picture, loop.time())
                listener.offer(picture)
            yield listener
        finally:
            self._listeners.discard(listener)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        async with self.bus.subscribe(*PREFIXES) as events:
            failed = False
            while True:
                newest: Event | None = None
                try:
                    message = await asyncio.wait_for(
                        anext(events), RETRY_SECONDS if failed else REFRESH_SECONDS
                    )
                    newest = message if isinstance(message, Event) else None
                    await asyncio.sleep(self.settle_seconds)  # the rest of the burst
                except TimeoutError:
                    pass  # a read to try again, or a quiet spell: read anyway
                while not events.queue.empty():
                    message = events.queue.get_nowait()
                    if isinstance(message, Event):
                        newest = message
                if not self._listeners:
                    self._latest, failed = None, False
                    continue
                try:
                    picture = await self.picture(cause=newest)
                except Exception:
                    # The store is away for a moment: try again shortly.
                    log.exception("reports.board.snapshot_failed")
                    self._latest, failed = None, True
                    continue
                failed = False
                self._latest = (picture, loop.time())
                for listener in list(self._listeners):
                    listener.offer(picture)

    async def close(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner

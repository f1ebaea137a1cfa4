"""Time sources for the emulator.

Every wait inside the emulator (Pause, Gather timeouts, ringing, queue hold, script
``wait`` steps) goes through a clock, so a test run can use virtual time: nothing
waits for real, and time jumps forward as soon as the system is quiet (no webhook,
REST request or TTS job in flight, and no activity for a short real-time grace so an
app's follow-up REST calls land before time moves on).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

GRACE_SECONDS = 0.04
"""Real time the system must be idle before virtual time may jump."""

STEP_PAUSE = 0.004
"""Real time left between two timer firings, so woken tasks can start their I/O."""

LOOP_LAG = 0.005
"""How late a short sleep may wake before the event loop counts as busy (not quiet)."""

STALL_SECONDS = 5.0
"""Real time after which runnable tasks alone no longer hold virtual time (a safety net
against a task that never blocks)."""

_UNKNOWN = object()


class Clock:
    """Base: seconds since the emulator started plus an RFC 2822 wall-time view."""

    def __init__(self) -> None:
        self.epoch = datetime.now(UTC)
        self._inflight = 0
        self._last_activity = time.monotonic()

    def now(self) -> float:
        raise NotImplementedError

    async def sleep(self, seconds: float) -> None:
        raise NotImplementedError

    def datetime(self, at: float | None = None) -> datetime:
        """The wall-clock instant of emulator time ``at`` (default: now)."""
        return self.epoch + timedelta(seconds=self.now() if at is None else at)

    def touch(self) -> None:
        """Note outside activity (a request or message arrived)."""
        self._last_activity = time.monotonic()

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """Hold virtual time still while some real I/O is in flight."""
        self._inflight += 1
        self.touch()
        try:
            yield
        finally:
            self._inflight -= 1
            self.touch()

    def start(self) -> None:
        """Begin background work, if any."""

    async def stop(self) -> None:
        """End background work, if any."""

    async def advance(self, seconds: float) -> None:
        raise RuntimeError("advance() needs clock='virtual'")


class WallClock(Clock):
    """Real time: used for demos against a real app and softphones."""

    def __init__(self) -> None:
        super().__init__()
        self._t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._t0

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class VirtualClock(Clock):
    """Simulated time that jumps to the next timer once the system is quiet."""

    def __init__(self) -> None:
        super().__init__()
        self._now = 0.0
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._pending_since: float | None = None

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self._now + seconds, next(self._seq), fut))
        self._wake.set()
        await fut

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for _, _, fut in self._timers:
            fut.cancel()
        self._timers.clear()

    def _prune(self) -> None:
        while self._timers and self._timers[0][2].done():
            heapq.heappop(self._timers)

    def _fire_next(self, limit: float | None = None) -> bool:
        """Jump to the earliest timer (not beyond ``limit``) and wake its sleepers."""
        self._prune()
        if not self._timers:
            return False
        deadline = self._timers[0][0]
        if limit is not None and deadline > limit:
            return False
        self._now = max(self._now, deadline)
        while self._timers and self._timers[0][0] <= deadline:
            _, _, fut = heapq.heappop(self._timers)
            if not fut.done():
                fut.set_result(None)
        return True

    def _quiet(self) -> bool:
        return self._inflight == 0 and time.monotonic() - self._last_activity >= GRACE_SECONDS

    async def _run(self) -> None:
        while True:
            self._prune()
            if not self._timers:
                self._wake.clear()
                await self._wake.wait()
                continue
            # Every check sits after the await and right before the jump, with no await
            # in between: whatever woke during the sleep is seen.
            lagging = await self._loop_busy()
            if lagging or not self._quiet():
                self._pending_since = None
                await asyncio.sleep(0.01)
                continue
            if self._work_pending():
                await asyncio.sleep(0.01)
                continue
            self._fire_next()
            await asyncio.sleep(STEP_PAUSE)

    async def _loop_busy(self) -> bool:
        """Whether work is still queued on the event loop (a call about to set its next
        timer, under load): a short sleep then wakes late. Time must not jump past it."""
        started = time.monotonic()
        await asyncio.sleep(0.002)
        if time.monotonic() - started - 0.002 > LOOP_LAG:
            self.touch()
            return True
        return False

    def _work_pending(self) -> bool:
        """Whether some task can still run without time moving: one just woken (by a
        timer that fired, a digit, an event) or not started yet, or a callback waiting
        on the loop's ready queue. Such a task is on its way to its next timer or
        request (a Say ended: the Gather starts, the caller presses, the action URL is
        fetched), all in zero clock time; jumping now would skip past it to a later
        timer, e.g. the 4 h call cap. Timing alone cannot tell this under load: one
        loop pass over hundreds of calls can be shorter than any lag threshold while
        the chain still needs several passes. Only a task blocked on a future that is
        not done yet (a clock timer, a request in flight, input that has not come) is
        idle; if only this holds time, unbroken, for STALL_SECONDS of real time (a task
        spinning on ``sleep(0)``), time moves anyway so no run can hang."""
        loop = asyncio.get_running_loop()
        me = asyncio.current_task()
        pending = bool(getattr(loop, "_ready", None))
        if not pending:
            for task in asyncio.all_tasks(loop):
                if task is me or task.done():
                    continue
                waiter = getattr(task, "_fut_waiter", _UNKNOWN)
                if waiter is _UNKNOWN:
                    continue
                if waiter is None or waiter.done():
                    pending = True
                    break
        now = time.monotonic()
        if not pending:
            self._pending_since = None
            return False
        if self._pending_since is None:
            self._pending_since = now
        return now - self._pending_since < STALL_SECONDS

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` at once, firing due timers in order."""
        target = self._now + seconds
        while self._fire_next(limit=target):  # noqa: ASYNC110
            await asyncio.sleep(STEP_PAUSE)
        self._now = max(self._now, target)


def make_clock(kind: str) -> Clock:
    if kind == "virtual":
        return VirtualClock()
    if kind == "wall":
        return WallClock()
    raise ValueError(f"clock must be 'virtual' or 'wall', not {kind!r}")


def rfc2822(dt: datetime) -> str:
    """Twilio's date format: 'Tue, 31 Aug 2010 20:36:28 +0000'."""
    return dt.strftime("%a, %d %b %Y %H:%M:%S +0000")

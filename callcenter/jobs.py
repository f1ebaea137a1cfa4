"""Jobs the app queues for the worker: timers that must fire even if this instance dies.

An offer that must time out, a wrap-up that must end, an escalation step, a callback
attempt: each is a job by name, queued (optionally with a delay) after the transaction that
made it necessary commits, and run by `callcenter worker` on whichever machine takes it.
The queue is huey's, on the backend the settings name (SQLite in the data dir, or Redis),
so the app and the worker share it. Job bodies live with the use case they serve (in
`flows/`) and are registered by name with `@job(...)`; one huey task carries them all, so
adding a job needs no change here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey

from callcenter import unit_of_work
from callcenter.config import Settings

log = logging.getLogger("callcenter.jobs")

# The one huey task that runs a registered job; its name is what the queue stores.
TASK_NAME = "callcenter.job"
RETRIES = 3
RETRY_DELAY_SECONDS = 10

JobBody = Callable[..., Awaitable[Any]]
_registry: dict[str, JobBody] = {}


def job(name: str) -> Callable[[JobBody], JobBody]:
    """Register `async def body(context, **kwargs)` as the job `name`."""

    def register(body: JobBody) -> JobBody:
        if _registry.setdefault(name, body) is not body:
            raise ValueError(f"two jobs are named {name!r}")
        return body

    return register


def registered() -> dict[str, JobBody]:
    return dict(_registry)


async def run(name: str, context: Any, kwargs: dict[str, Any]) -> Any:
    """Run a queued job in the worker; one whose name no longer exists is logged, dropped."""
    body = _registry.get(name)
    if body is None:
        log.error("jobs.unknown", extra={"job": name})
        return None
    return await body(context, **kwargs)


def build_queue(
    settings: Settings, *, runner: Callable[[str, dict[str, Any]], Any] | None = None
) -> JobQueue:
    """The queue the app and the worker share, from the settings. The worker passes the
    `runner` that carries out jobs; the app's side only enqueues."""
    huey: Huey
    # Jobs report through the store and the logs; huey would keep every return value.
    if settings.worker_backend == "redis":
        huey = RedisHuey("callcenter", url=settings.redis_url, results=False)
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        huey = SqliteHuey(
            "callcenter", filename=str(settings.data_dir / "worker-queue.db"), results=False
        )

    def run_task(name: str, kwargs: dict[str, Any]) -> Any:
        """The one task both sides register (huey names it by module and name, so it is
        defined here for both): the worker runs the job, the app only ever enqueues."""
        if runner is None:
            raise RuntimeError("jobs run in `callcenter worker`, not in the app")
        return runner(name, kwargs)

    # A job that fails (a lock timeout, Twilio unreachable) is tried again: a lost timer
    # would strand what it guards. Job bodies are written to be run twice safely.
    task = huey.task(name=TASK_NAME, retries=RETRIES, retry_delay=RETRY_DELAY_SECONDS)
    return JobQueue(huey, task(run_task))


class JobQueue:
    """Queue jobs by name, now or after a delay, for whichever worker takes them."""

    def __init__(self, huey: Huey, task: Any) -> None:
        self.huey = huey
        self._task = task

    async def enqueue(self, name: str, *, delay: float = 0, **kwargs: Any) -> None:
        """Queue `name` to run in `delay` seconds (huey's storage calls block: in a thread)."""
        if name not in _registry:
            raise ValueError(f"no job is named {name!r}")
        await asyncio.to_thread(self._task.schedule, args=(name, kwargs), delay=delay)

    def after_commit(self, session: Any, name: str, *, delay: float = 0, **kwargs: Any) -> None:
        """Queue `name` once `session`'s transaction commits; never if it rolls back."""
        unit_of_work.after_commit(session, self._enqueue_later, name, delay, kwargs)

    async def _enqueue_later(self, name: str, delay: float, kwargs: dict[str, Any]) -> None:
        await self.enqueue(name, delay=delay, **kwargs)


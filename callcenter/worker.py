"""The background worker: a huey consumer over SQLite (embedded) or Redis (several machines).

Why huey: it has both an embedded backend that needs no server (SQLite, matching our default
store) and a Redis backend for scale-out, periodic tasks, retries and a small footprint.
Tasks are registered on the instance built from settings, so nothing reads config at import.
huey runs tasks in threads; each task runs its coroutine with `asyncio.run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

from huey import Huey, crontab

from callcenter import events, jobs, unit_of_work
from callcenter.config import Settings
from callcenter.db import create_engine, create_sessionmaker
from callcenter.flows import (
    Telephony,
    build_telephony,
    email,
    escalation,
    offers,
    watchdog,
    webhook_delivery,
)
from callcenter.flows.reconcile import reconcile
from callcenter.telephony.gateway import TwilioGateway

# The flows whose jobs this worker runs (importing them registers their jobs).
JOB_MODULES = (offers, escalation, webhook_delivery, email)

# A call with no final status after this long is checked against Twilio's REST API.
STALE_AFTER = dt.timedelta(minutes=10)


def build_huey(settings: Settings) -> Huey:
    """The queue for this install, with every task registered on it: the runner of the
    jobs the app queues (`callcenter.jobs`) and the periodic safety net."""
    huey = jobs.build_queue(
        settings, runner=lambda name, kwargs: asyncio.run(run_job(settings, name, kwargs))
    ).huey
    huey.periodic_task(crontab(minute="*/5"), name="reconcile_stale_calls")(
        lambda: asyncio.run(reconcile_calls(settings))
    )
    huey.periodic_task(crontab(minute="*"), name="routing_watchdog")(
        lambda: asyncio.run(patrol(settings))
    )
    huey.periodic_task(crontab(minute="*"), name="webhook_sweep")(
        lambda: asyncio.run(sweep_webhooks(settings))
    )
    huey.periodic_task(crontab(minute="*"), name="email_sweep")(
        lambda: asyncio.run(sweep_email(settings))
    )
    return huey


@contextlib.asynccontextmanager
async def job_context(settings: Settings) -> AsyncIterator[Telephony]:
    """What one job run needs, made for its own event loop (huey runs each in a thread with
    `asyncio.run`) and closed after it: engine, REST client, bus, job queue."""
    engine = create_engine(
        settings.database_url, lock_timeout=settings.database_lock_timeout_seconds
    )
    bus = events.build_bus(settings.events_backend, redis_url=settings.redis_url)
    await bus.start()
    gateway = TwilioGateway(settings)
    job_queue = jobs.build_queue(settings)
    telephony = build_telephony(
        settings, create_sessionmaker(engine, publish=bus.publish, jobs=job_queue), gateway,
        jobs=job_queue,
    )
    try:
        yield telephony
    finally:
        await unit_of_work.drain(within=5)
        await gateway.close()
        await bus.close()
        await engine.dispose()


async def run_job(settings: Settings, name: str, kwargs: dict[str, Any]) -> Any:
    async with job_context(settings) as telephony:
        return await jobs.run(name, telephony, kwargs)


async def patrol(settings: Settings) -> int:
    """One round of the routing watchdog (every minute)."""
    async with job_context(settings) as telephony:
        return await watchdog.patrol(telephony)


async def sweep_webhooks(settings: Settings) -> int:
    """Webhook deliveries that are due (every minute)."""
    async with job_context(settings) as telephony:
        return await webhook_delivery.sweep(telephony)


async def sweep_email(settings: Settings) -> int:
    """Replies due for an attempt, and mail stored but never read (every minute)."""
    async with job_context(settings) as telephony:
        return await email.sweep(telephony)


async def reconcile_calls(settings: Settings, *, older_than: dt.timedelta = STALE_AFTER) -> int:
    """One pass of the safety net."""
    async with job_context(settings) as telephony:
        return await reconcile(telephony, older_than=older_than)

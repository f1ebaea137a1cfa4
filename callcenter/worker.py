"""The background worker: a huey consumer over SQLite (embedded) or Redis (several machines).

Why huey: it has both an embedded backend that needs no server (SQLite, matching our default
store) and a Redis backend for scale-out, periodic tasks, retries and a small footprint.
Tasks are registered on the instance built from settings, so nothing reads config at import.
huey runs tasks in threads; each task runs its coroutine with `asyncio.run`.
"""

from __future__ import annotations

import asyncio
import datetime as dt

from huey import Huey, RedisHuey, SqliteHuey, crontab

from callcenter.config import Settings
from callcenter.db import create_engine, create_sessionmaker
from callcenter.flows import build_telephony
from callcenter.flows.reconcile import reconcile
from callcenter.telephony.gateway import TwilioGateway

# A call with no final status after this long is checked against Twilio's REST API.
STALE_AFTER = dt.timedelta(minutes=10)


def build_huey(settings: Settings) -> Huey:
    """The queue for this install, with every task registered on it."""
    if settings.worker_backend == "redis":
        huey: Huey = RedisHuey("callcenter", url=settings.redis_url)
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        huey = SqliteHuey("callcenter", filename=str(settings.data_dir / "worker-queue.db"))
    huey.periodic_task(crontab(minute="*/5"), name="reconcile_stale_calls")(
        lambda: asyncio.run(reconcile_calls(settings))
    )
    return huey


async def reconcile_calls(settings: Settings, *, older_than: dt.timedelta = STALE_AFTER) -> int:
    """One pass of the safety net, with its own engine and REST client."""
    engine = create_engine(
        settings.database_url, lock_timeout=settings.database_lock_timeout_seconds
    )
    gateway = TwilioGateway(settings)
    telephony = build_telephony(settings, create_sessionmaker(engine), gateway)
    try:
        return await reconcile(telephony, older_than=older_than)
    finally:
        await gateway.close()
        await engine.dispose()

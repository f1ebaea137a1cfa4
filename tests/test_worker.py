"""The worker's periodic safety net is registered and runs against the real database."""

from __future__ import annotations

import asyncio
import datetime as dt

from callcenter.config import Settings
from callcenter.worker import build_huey


async def test_reconcile_task_is_scheduled_every_five_minutes_and_runs(settings: Settings):
    huey = build_huey(settings)
    at_five = dt.datetime(2026, 11, 25, 4, 5)
    at_seven = dt.datetime(2026, 11, 25, 4, 7)
    due = huey.read_periodic(at_five)
    assert [task.name for task in due] == ["reconcile_stale_calls"]
    assert huey.read_periodic(at_seven) == []
    # Run it as the consumer would (in a thread of its own): a clean pass changes nothing.
    assert await asyncio.to_thread(huey.execute, due[0]) == 0

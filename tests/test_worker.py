"""The worker's periodic safety nets are registered and run against the real database."""

from __future__ import annotations

import asyncio
import datetime as dt

from callcenter.config import Settings
from callcenter.worker import build_huey


async def test_reconciler_runs_every_five_minutes_the_watchdog_and_sweeps_every_minute(
    settings: Settings,
):
    huey = build_huey(settings)
    at_five = dt.datetime(2026, 11, 25, 4, 5)
    at_seven = dt.datetime(2026, 11, 25, 4, 7)
    due = {task.name: task for task in huey.read_periodic(at_five)}
    assert set(due) == {
        "reconcile_stale_calls", "routing_watchdog", "webhook_sweep", "email_sweep"
    }
    assert sorted(task.name for task in huey.read_periodic(at_seven)) == [
        "email_sweep", "routing_watchdog", "webhook_sweep"
    ]
    # Run them as the consumer would (in a thread of its own): clean passes change nothing.
    for task in due.values():
        assert await asyncio.to_thread(huey.execute, task) == 0

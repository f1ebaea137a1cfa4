"""The board's feed: one read serves boards connecting together, and a failed read is
tried again rather than leaving every board on an old picture."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from quart import Quart

from callcenter.events import Event
from callcenter.reports import board, feed


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Each snapshot read from the store, counted."""
    counted: list[int] = []
    real = board.snapshot

    async def snapshot(*args: Any, **kwargs: Any) -> dict[str, Any]:
        counted.append(1)
        return await real(*args, **kwargs)

    monkeypatch.setattr(board, "snapshot", snapshot)
    return counted


async def test_boards_connecting_together_share_one_read(app: Quart, reads: list[int]):
    live = app.extensions["callcenter"].board
    async with live.listen() as first, live.listen() as second, live.listen() as third:
        pictures = [await listener.next() for listener in (first, second, third)]
    assert len(reads) == 1
    assert pictures[0] is pictures[1] is pictures[2]


async def test_a_read_that_failed_is_tried_again(
    app: Quart, reads: list[int], monkeypatch: pytest.MonkeyPatch
):
    live = app.extensions["callcenter"].board
    monkeypatch.setattr(feed, "RETRY_SECONDS", 0.1)
    async with live.listen() as listener:
        await listener.next()
        real = board.snapshot
        failures = [RuntimeError("the store is away")]

        async def flaky(*args: Any, **kwargs: Any) -> dict[str, Any]:
            if failures:
                raise failures.pop()
            return await real(*args, **kwargs)

        monkeypatch.setattr(board, "snapshot", flaky)
        await live.bus.publish([Event(name="routing.task.updated", data={})])
        picture = await asyncio.wait_for(listener.next(), 5)
    assert not failures, "the event's read failed first"
    assert picture["event"] is None, "the picture came from the retry, not the event's read"

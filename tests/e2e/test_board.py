"""The supervisors' live board in a real browser (Debian's chromium through Playwright),
with calls coming through the Twilio emulator: what happens shows on the board at once.

The emulator runs on the wall clock here, so a caller really waits while the page looks,
and events go through Redis, as they do between instances.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from builders import DEFAULT_PASSWORD, make_agent, make_token, make_user
from playwright.async_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession
from web import test_browser

from callcenter.accounts.models import Role
from callcenter.app import create_app
from callcenter.config import Settings
from callcenter.http import streams
from callcenter.reports import feed
from callcenter.routing import queues as routing_queues

from .conftest import Centre

browser = test_browser.browser
page = test_browser.page

pytestmark = pytest.mark.backends("sqlite")  # the page adds nothing per backend
SHOTS = Path("/tmp/shots")
EMULATOR_CLOCK = "wall"  # read by the e2e conftest's emulator
# The board's event-to-screen lag, read off the page (browser and server share a clock here).
LAG_MS = """() => {
  const board = document.querySelector('.board').dataset;
  return Date.parse(board.drawnAt) - Date.parse(board.eventAt);
}"""


@pytest.fixture(autouse=True)
def shots() -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)


async def _open_board(page: Page, app_url: str, db: AsyncSession) -> None:
    supervisor = await make_user(db, role=Role.supervisor)
    await db.commit()
    await page.goto(app_url + "/login?next=/board")
    await test_browser.sign_in(page, supervisor.email, DEFAULT_PASSWORD)
    await expect(page.get_by_role("heading", name="Live board", level=1)).to_be_visible()
    await expect(page.get_by_role("status")).to_contain_text("Live")


async def test_the_board_shows_a_caller_waiting_then_answered_as_it_happens(
    page: Page, centre: Centre
) -> None:
    await _open_board(page, centre.app_url, centre.db)
    waiting = page.get_by_role("table", name="Waiting callers")
    queues = page.get_by_role("table", name="Queues")
    await expect(waiting).to_contain_text("Nobody is waiting.")

    # A threshold the caller's wait passes before the agent answers: the board marks it.
    support_queue = await routing_queues.queue_named(centre.db, name="support")
    assert support_queue is not None
    await routing_queues.update_queue(centre.db, queue=support_queue, service_level_seconds=2)
    await centre.db.commit()
    await centre.add_agent(mode="accept", answer_delay=4.0, talk_seconds=2.0)
    await centre.dial([{"press": "2"}], from_="+14155550123")
    caller = waiting.get_by_role("row", name=re.compile(r"\+14155550123"))
    await expect(caller).to_be_visible(timeout=20_000)
    await expect(caller).to_contain_text("support")
    assert await page.evaluate(LAG_MS) < 1000
    support = queues.get_by_role("row", name=re.compile(r"^support"))
    await expect(support.get_by_text("At risk")).to_be_visible(timeout=5_000)
    billing = queues.get_by_role("row", name=re.compile(r"^billing"))
    await expect(billing.get_by_text("At risk")).to_be_hidden()
    await page.screenshot(path=str(SHOTS / "board-waiting.png"), full_page=True)

    await expect(support.locator('[data-column="answered"]')).to_have_text("1", timeout=20_000)
    await expect(caller).to_have_count(0)
    assert await page.evaluate(LAG_MS) < 1000
    agents = page.get_by_role("table", name="Agents")
    busy = agents.get_by_role("row", name=re.compile("On a call|Wrap-up|Available"))
    await expect(busy).not_to_have_count(0)
    await page.screenshot(path=str(SHOTS / "board-answered.png"), full_page=True)
    await page.set_viewport_size({"width": 390, "height": 844})
    await expect(page.get_by_role("heading", name="Live board", level=1)).to_be_in_viewport()
    await page.screenshot(path=str(SHOTS / "board-phone.png"), full_page=True)


async def test_the_board_comes_back_by_itself_after_its_stream_ends(
    page: Page, centre: Centre, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream that ends (or drops) reconnects by itself and resyncs from a fresh
    snapshot: what happened while it was away shows without a reload."""
    monkeypatch.setattr(streams, "STREAM_SECONDS", 1.5)
    monkeypatch.setattr(feed, "FRESH_SECONDS", 0)  # read from the store on every connect
    await _open_board(page, centre.app_url, centre.db)
    await expect(page.get_by_role("status")).to_contain_text("Reconnecting", timeout=15_000)
    # Made straight in the store, with no event: only a resync can show it.
    await make_agent(centre.db)
    await centre.db.commit()
    agents = page.get_by_role("table", name="Agents")
    await expect(agents.get_by_role("row", name=re.compile("Available"))).to_have_count(
        1, timeout=15_000
    )
    await expect(page.get_by_role("status")).to_contain_text("Live")


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any], redis_url: str) -> dict[str, Any]:
    """Every instance's events through a Redis of the test's own, as several instances run."""
    return {**settings_overrides, "events_backend": "redis", "redis_url": redis_url}


async def test_what_happens_on_another_instance_reaches_the_board_within_a_second(
    page: Page, centre: Centre, settings: Settings
) -> None:
    """The board is connected to one instance; an agent goes on a break through another
    (its own app on the same store and the same Redis): the board shows it."""
    await _open_board(page, centre.app_url, centre.db)
    user = await make_user(centre.db, role=Role.agent, name="Grace Hopper")
    token = await make_token(centre.db, user=user)
    await centre.db.commit()
    other = create_app(settings)
    async with other.test_app():
        answer = await other.test_client().put(
            "/api/agents/me/activity",
            json={"activity": "break", "reason": "lunch"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 200, await answer.get_data(as_text=True)
        row = page.get_by_role("table", name="Agents").get_by_role(
            "row", name=re.compile("Grace Hopper")
        )
        await expect(row).to_contain_text("Break (lunch)", timeout=5_000)
    assert await page.evaluate(LAG_MS) < 1000

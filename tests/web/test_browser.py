"""A real browser (Debian's chromium through Playwright) against the live server.

Assertions use roles, text and URLs, never pixels, so they do not depend on fonts.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from builders import DEFAULT_PASSWORD, make_user
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.accounts.models import Role

CHROMIUM = Path(os.environ.get("CALLCENTER_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.backends("sqlite")  # the browser adds nothing per backend


def chromium_missing() -> bool:
    return not CHROMIUM.exists()


@pytest.fixture
async def browser(live_server: str) -> AsyncIterator[Browser]:
    """Chromium, closed before the live server stops (so no request is cut off mid-way)."""
    if chromium_missing():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing (CI is set): apt-get install chromium")
        pytest.skip(f"{CHROMIUM} is missing; apt-get install chromium to run browser tests")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context()
    context.set_default_timeout(10_000)
    opened = await context.new_page()
    try:
        yield opened
    finally:
        await context.close()


async def sign_in(page: Page, email: str, password: str) -> None:
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def test_admin_signs_in_and_sees_the_users(
    page: Page, live_server: str, db_session: AsyncSession, tmp_path: Path
) -> None:
    admin = await make_user(db_session, role=Role.admin, email="ada@example.com")
    await db_session.commit()

    await page.goto(live_server + "/")
    await expect(page).to_have_url(live_server + "/login")

    await sign_in(page, admin.email, "a wrong password, clearly")
    await expect(page.get_by_role("alert")).to_contain_text("Wrong email or password.")

    await sign_in(page, admin.email, DEFAULT_PASSWORD)
    await expect(page).to_have_url(live_server + "/")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")

    await page.get_by_role("link", name="Admin").click()
    await expect(page).to_have_url(live_server + "/admin")
    await expect(page.get_by_role("heading", name="Admin")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="ada@example.com")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("admin")

    screenshot = tmp_path / "admin.png"
    await page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 0


async def test_an_agent_is_refused_the_admin_page(
    page: Page, live_server: str, db_session: AsyncSession
) -> None:
    agent = await make_user(db_session, role=Role.agent)
    await db_session.commit()

    await page.goto(live_server + "/login")
    await sign_in(page, agent.email, DEFAULT_PASSWORD)
    await expect(page).to_have_url(live_server + "/")
    await expect(page.get_by_role("link", name="Admin")).to_have_count(0)

    response = await page.goto(live_server + "/admin")
    assert response is not None
    assert response.status == 403
    await expect(page.get_by_role("heading", level=1)).to_have_text("403")

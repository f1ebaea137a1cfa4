"""A real browser (Debian's chromium through Playwright) against the live server.

Assertions use roles, text and URLs, never pixels, so they do not depend on fonts.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from builders import DEFAULT_PASSWORD, make_token, make_user
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright, expect
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.accounts.models import Role
from callcenter.db import utcnow

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
    await expect(page.get_by_role("alert")).to_contain_text("Wrong email or password")
    await page.screenshot(path=str(tmp_path / "login-error.png"), full_page=True)

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


async def test_an_admin_deactivates_and_activates_a_user_with_the_rows_buttons(
    page: Page, live_server: str, db_session: AsyncSession, tmp_path: Path
) -> None:
    admin = await make_user(db_session, role=Role.admin, email="ada@example.com")
    bob = await make_user(
        db_session, email="bob@example.com", locked_until=utcnow() + dt.timedelta(minutes=10)
    )
    token = await make_token(db_session, user=bob, name="wallboard")
    await db_session.commit()
    await page.goto(live_server + "/login?next=/admin")
    await sign_in(page, admin.email, DEFAULT_PASSWORD)
    await expect(page).to_have_url(live_server + "/admin")
    row = page.get_by_role("row").filter(has_text="bob@example.com")
    await expect(row.get_by_role("button", name="Unlock bob@example.com")).to_be_visible()
    await expect(row.get_by_role("button", name=f"Revoke token {token[:10]}")).to_be_visible()
    await page.screenshot(path=str(tmp_path / "admin-before.png"), full_page=True)

    await row.get_by_role("button", name="Deactivate bob@example.com").click()

    await expect(page.get_by_role("status")).to_contain_text(
        "Deactivated bob@example.com: 0 session(s) signed out, 1 API token(s) revoked."
    )
    await expect(row.get_by_role("button", name=f"Revoke token {token[:10]}")).to_have_count(0)
    await expect(row.get_by_role("cell", name="no", exact=True)).to_be_visible()
    await page.screenshot(path=str(tmp_path / "admin-deactivated.png"), full_page=True)
    await row.get_by_role("button", name="Activate bob@example.com").click()
    await expect(page.get_by_role("status")).to_contain_text("Activated bob@example.com")
    await expect(row.get_by_role("button", name="Deactivate bob@example.com")).to_be_visible()
    admin_row = page.get_by_role("row").filter(has_text="ada@example.com")
    await expect(admin_row.get_by_role("button", name="Deactivate")).to_have_count(0)


async def test_the_api_docs_render_under_the_content_security_policy(
    page: Page, live_server: str, tmp_path: Path
) -> None:
    """Swagger UI runs from /vendor/ with its one inline script allowed by hash: no violation."""
    problems: list[str] = []

    def console(message: ConsoleMessage) -> None:
        # Chromium asks for /favicon.ico on its own; there is none, and that is no error.
        if message.type == "error" and not message.location["url"].endswith("/favicon.ico"):
            problems.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda error: problems.append(str(error)))

    response = await page.goto(live_server + "/api/docs")

    assert response is not None and response.status == 200
    assert "script-src 'self' 'sha256-" in response.headers["content-security-policy"]
    await expect(page.get_by_role("heading", name="callcenter API")).to_be_visible()
    await expect(page.get_by_text("/api/users").first).to_be_visible()
    await page.screenshot(path=str(tmp_path / "api-docs.png"), full_page=True)
    assert problems == []

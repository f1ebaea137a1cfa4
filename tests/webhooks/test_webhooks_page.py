"""The webhooks page as an admin uses it, in Chromium: add a webhook with the form, send a
test, read the delivery log, pause it."""

from __future__ import annotations

import json

from builders import DEFAULT_PASSWORD, make_user
from playwright.async_api import Page, expect
from quart import Quart
from sqlalchemy.ext.asyncio import AsyncSession
from web import test_browser

from callcenter.accounts.models import Role
from callcenter.flows import webhook_delivery
from webhooks.test_webhooks import Receiver, receiver

browser = test_browser.browser
page = test_browser.page
pytestmark = test_browser.pytestmark
__all__ = ["receiver"]


async def test_an_admin_adds_a_webhook_sends_a_test_and_reads_the_log(
    page: Page, live_server: str, app: Quart, db_session: AsyncSession, receiver: Receiver
) -> None:
    admin = await make_user(db_session, role=Role.admin, email="ada@example.com")
    await db_session.commit()
    await page.goto(live_server + "/login")
    await test_browser.sign_in(page, admin.email, DEFAULT_PASSWORD)
    await page.get_by_role("link", name="Admin").click()
    await page.get_by_role("link", name="Webhooks to a CRM").click()

    form = page.get_by_role("form", name="Add a webhook")
    await form.get_by_label("Name").fill("Our CRM")
    await form.get_by_label("URL").fill(receiver.url)
    await form.get_by_role("checkbox", name="ticket.updated").uncheck()
    await form.get_by_role("button", name="Add webhook").click()
    card = page.get_by_role("region", name="Our CRM")
    await expect(card).to_contain_text(receiver.url)
    await expect(card.get_by_role("table", name="Deliveries of Our CRM")).to_contain_text(
        "Nothing sent yet")

    await card.get_by_role("button", name="Send a test to Our CRM").click()
    await expect(card.get_by_role("table")).to_contain_text("pending")
    await webhook_delivery.sweep(app.extensions["callcenter"].telephony)  # the worker's round
    await page.reload()
    log = page.get_by_role("table", name="Deliveries of Our CRM")
    await expect(log).to_contain_text("ping")
    await expect(log).to_contain_text("delivered")
    await expect(log).to_contain_text("200")
    assert json.loads(receiver.got[0][1])["type"] == "ping"

    card = page.get_by_role("region", name="Our CRM")
    await card.get_by_role("button", name="Pause Our CRM").click()
    await expect(card).to_contain_text("paused")
    await expect(card.get_by_role("button", name="Resume Our CRM")).to_be_visible()

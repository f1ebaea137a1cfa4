"""Email on the ticket page, in Chromium: the customer's mail on the timeline (sender,
subject, quoted text folded, attachment), the agent's reply sent from the page, and its
delivery shown as it happens."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import DEFAULT_PASSWORD, make_user
from playwright.async_api import Page, expect
from quart import Quart
from sqlalchemy.ext.asyncio import AsyncSession
from web import test_browser

from callcenter.accounts.models import Role
from callcenter.channels.email.models import MailStatus
from callcenter.flows import email as email_flow
from channels.mailbox import Relay, customer_mail, mails, send

browser = test_browser.browser
page = test_browser.page
SHOTS = Path("/tmp/shots")


@pytest.mark.backends("sqlite")  # the browser adds nothing per backend
async def test_an_agent_reads_an_email_and_answers_it_from_the_ticket_page(
    page: Page, app: Quart, live_server: str, listener: int, relay: Relay,
    db_session: AsyncSession,
) -> None:
    message = customer_mail()
    message.add_attachment(b"%PDF receipt", maintype="application", subtype="pdf",
                           filename="receipt.pdf")
    await send(listener, message, sender="ada@example.com")
    [incoming] = await mails(db_session)
    ticket_id = incoming.ticket_id
    agent = await make_user(db_session, role=Role.agent, name="Grace Hopper")
    await db_session.commit()

    await page.goto(f"{live_server}/login?next=/tickets/{ticket_id}")
    await test_browser.sign_in(page, agent.email, DEFAULT_PASSWORD)
    timeline = page.get_by_role("list", name="Timeline")
    await expect(timeline).to_contain_text("From Ada Lovelace <ada@example.com>")
    await expect(timeline).to_contain_text("order 1234 never arrived")
    quoted = timeline.get_by_text("Quoted text and signature")
    await expect(quoted).to_be_visible()
    await expect(timeline.get_by_role("link", name="receipt.pdf")).to_be_visible()

    form = page.get_by_role("form", name="Reply by email")
    await form.get_by_label("Reply by email").fill("A new parcel is on its way.")
    await form.get_by_role("button", name="Send email").click()
    await expect(timeline).to_contain_text("A new parcel is on its way.")
    await expect(timeline).to_contain_text("To ada@example.com · Sending…")

    # The worker hands it to the relay; the open page shows it went.
    _, outgoing = await mails(db_session)
    tel = app.extensions["callcenter"].telephony
    assert await email_flow.send_one(tel, mail_id=outgoing.id) == MailStatus.sent
    await expect(timeline).to_contain_text("To ada@example.com · Sent", timeout=10_000)
    assert len(relay.got) == 1
    await page.screenshot(path=str(SHOTS / "ticket-email.png"), full_page=True)

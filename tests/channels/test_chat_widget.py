"""The chat widget both ways in a real browser (Debian's chromium through Playwright): a
customer's site on another origin embeds the one script tag; four visitors start chats;
the one agent available gets three at once and the fourth waits; the agent sees a visitor
type, answers from the ticket page (the visitor sees them type, then the answer), and ends
the chat, which hands the fourth visitor to them. A visitor who reloads the page is still
in their chat."""

from __future__ import annotations

from typing import Any

import pytest
from builders import DEFAULT_PASSWORD, make_agent
from playwright.async_api import Browser, Page, expect
from sqlalchemy.ext.asyncio import AsyncSession
from web import test_browser

from callcenter.accounts.models import User
from channels.site import SHOTS, site, site_origin, site_port, start_chat, visitor_on

browser = test_browser.browser
page = test_browser.page
pytestmark = pytest.mark.backends("sqlite")  # the browser adds nothing per backend
__all__ = ["site", "site_port"]  # fixtures


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any], site_port: int) -> dict[str, Any]:
    return {**settings_overrides, **site_origin(site_port)}


async def test_three_chats_at_once_for_one_agent_and_a_fourth_waits(
    browser: Browser, page: Page, site: str, live_server: str, db_session: AsyncSession
):
    agent = await make_agent(db_session)
    user = await db_session.get(User, agent.user_id)
    assert user is not None
    user.name = "Sam Carter"
    email = user.email
    await db_session.commit()

    visitors = [await visitor_on(browser, site) for _ in range(4)]
    for n, (_context, visitor) in enumerate(visitors, start=1):
        await expect(visitor.get_by_role("status")).to_have_text("We are online.")
        await start_chat(visitor, f"Visitor {n}", f"Question number {n}")
        await expect(visitor.get_by_role("log", name="Messages")).to_contain_text(
            f"Question number {n}")
    for _context, visitor in visitors[:3]:
        await expect(visitor.get_by_role("status")).to_have_text(
            "You are chatting with Sam.")
    fourth = visitors[3][1]
    await expect(fourth.get_by_role("status")).to_have_text(
        "Waiting for an agent: you are in line.")

    await page.goto(f"{live_server}/login?next=/agent")
    await test_browser.sign_in(page, email, DEFAULT_PASSWORD)
    chats = page.get_by_role("region", name="Your chats")
    await expect(chats.get_by_role("link")).to_have_count(3)
    await page.screenshot(path=str(SHOTS / "agent-chats.png"), full_page=True)
    await chats.get_by_role("link", name="Chat with Visitor 1 · ticket #").click()

    one = visitors[0][1]
    timeline = page.get_by_role("list", name="Timeline")
    await expect(timeline).to_contain_text("Question number 1")
    # Typed as a person types: the widget says so every few seconds while they do.
    talk = one.get_by_role("form", name="Send a message")
    await talk.get_by_label("Message").press_sequentially(
        "Are you still there? One more question", delay=120)
    await expect(page.get_by_role("status").filter(has_text="typing")).to_have_text(
        "The visitor is typing…")
    reply = page.get_by_role("form", name="Reply in chat")
    await reply.get_by_label("Reply in chat").press_sequentially("Hello, I am")
    await expect(one.get_by_text("Sam is typing…")).to_be_visible()
    await reply.get_by_label("Reply in chat").press_sequentially(" here to help.")
    await reply.get_by_label("Reply in chat").press("Enter")
    log = one.get_by_role("log", name="Messages")
    await expect(log).to_contain_text("Hello, I am here to help.")
    await expect(timeline).to_contain_text("Hello, I am here to help.")
    await one.screenshot(path=str(SHOTS / "widget-chat.png"))
    await page.screenshot(path=str(SHOTS / "ticket-chat.png"), full_page=True)

    # The visitor goes to another page of the site: the same visitor, the same chat.
    await one.reload()
    await one.get_by_role("button", name="Chat with the shop").click()
    await expect(one.get_by_role("log", name="Messages")).to_contain_text(
        "Hello, I am here to help.")

    await reply.get_by_role("button", name="End the chat").click()
    await expect(one.get_by_role("status")).to_have_text("The chat has ended.")
    await expect(fourth.get_by_role("status")).to_have_text("You are chatting with Sam.")
    await expect(timeline).to_contain_text("The chat ended: closed by the agent.")
    for context, _visitor_page in visitors:
        await context.close()

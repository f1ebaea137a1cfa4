"""The ticket workspace in a real browser (Debian's chromium): a customer calls through the
emulator, the agent takes the call, then finds the ticket by the number typed another way,
works it (timer, note, macro, solved), and the supervisor's time report shows the call's
seconds and the timer's.
"""

from __future__ import annotations

import re

import pytest
from builders import DEFAULT_PASSWORD, make_user
from playwright.async_api import Page, expect
from sqlalchemy import select
from web import test_browser

from callcenter.accounts import service as accounts
from callcenter.accounts.models import Role
from callcenter.tickets.models import TicketStatus, TimeEntry, TimeSource
from twilio_emulator import Emulator

from .conftest import Centre
from .test_softphone import SHOTS, _history, _sign_in_agent

browser = test_browser.browser
page = test_browser.page

pytestmark = pytest.mark.backends("sqlite")
EMULATOR_CLOCK = "wall"  # a person is answering
CALLER = "+14155550123"
# Says what is wrong once the agent is with them, and waits for the agent to hang up.
SCRIPT = [{"press": "2"}, {"until": "conference"}, {"wait": 1},
          {"say": "my shop order has not arrived"}, {"wait": 300}]


async def _take_a_call(page: Page, centre: Centre) -> str:
    """The agent's email, once they have taken and wrapped up the call."""
    agent = await _sign_in_agent(page, centre)
    await centre.dial(SCRIPT, from_=CALLER)
    await expect(page.get_by_role("region", name="Incoming call")).to_be_visible(timeout=20_000)
    await page.wait_for_timeout(1500)  # it rings a moment: ring time counts too
    await page.keyboard.press("Alt+A")
    await expect(page.get_by_role("region", name="On a call")).to_be_visible(timeout=10_000)
    await page.wait_for_timeout(3000)  # a few seconds of talk
    await page.keyboard.press("Alt+H")
    await expect(page.get_by_role("region", name="Wrap-up")).to_be_visible(timeout=10_000)
    await page.wait_for_timeout(1000)
    await page.get_by_role("button", name="End wrap-up").click()
    await expect(page.get_by_role("status").first).to_contain_text("Available", timeout=10_000)
    user = await accounts.get(centre.db, user_id=agent.user_id)
    assert user is not None
    return user.email


def _seconds(text: str) -> int:
    minutes, seconds = text.strip().split(":")
    return int(minutes) * 60 + int(seconds)


async def test_an_agent_works_the_ticket_a_call_landed_on(
    page: Page, centre: Centre, emulator: Emulator
) -> None:
    open_ticket = await _history(centre.db)
    email = await _take_a_call(page, centre)

    # Search by the number as a person would type it, not as it is stored.
    desk = await page.context.new_page()
    await desk.goto(centre.app_url + "/tickets")
    await desk.get_by_label("Search tickets").fill("(415) 555-0123")
    await desk.get_by_role("button", name="Search").click()
    await desk.get_by_role("link", name=re.compile("Where is my order")).click()
    await expect(desk.get_by_role("heading", level=1)).to_contain_text("Where is my order?")

    timeline = desk.get_by_role("list", name="Timeline")
    await expect(timeline).to_contain_text("Inbound call from +14155550123", timeout=10_000)
    await expect(timeline).to_contain_text(re.compile(r"Talked \d+ s"))
    last_five = desk.get_by_role("region", name="Last five tickets")
    await expect(last_five.get_by_role("link")).to_have_count(5)
    await expect(last_five).to_contain_text("Earlier ticket 6")

    # The timer runs while the ticket is open; pause holds it, resume goes on.
    timer = desk.get_by_role("timer", name="Time on this update")
    await expect(desk.get_by_text("running", exact=True)).to_be_visible()
    await desk.wait_for_timeout(2500)
    await desk.get_by_role("button", name="Pause timer").click()
    await expect(desk.get_by_text("paused", exact=True)).to_be_visible()
    held = _seconds(await timer.inner_text())
    assert held >= 2
    await desk.wait_for_timeout(1500)
    assert _seconds(await timer.inner_text()) == held
    await desk.get_by_role("button", name="Resume timer").click()
    await expect(desk.get_by_text("running", exact=True)).to_be_visible()
    await desk.wait_for_timeout(1500)

    await desk.get_by_label("Internal note").fill("Courier says it is in the depot.")
    await desk.get_by_role("button", name="Add note").click()
    await expect(timeline).to_contain_text("Courier says it is in the depot.")

    await desk.get_by_role("form", name="Apply a macro").get_by_label("Macro").select_option(
        "Escalate to Tier 2"
    )
    await desk.get_by_role("button", name="Apply macro").click()
    await expect(timeline).to_contain_text("Escalated to Tier 2 for a closer look.")
    fields = desk.get_by_role("form", name="Ticket fields")
    await expect(fields.get_by_label("Group")).to_have_value(re.compile(r"\d+"))
    await expect(fields.get_by_label("Priority")).to_have_value("high")

    await fields.get_by_label("Status").select_option("solved")
    await fields.get_by_role("button", name="Save fields").click()
    await expect(timeline).to_contain_text("Status changed from open to solved.")
    await expect(desk.locator("#ticket-head")).to_contain_text("Solved")
    await desk.screenshot(path=str(SHOTS / "ticket-worked.png"), full_page=True)

    await centre.db.commit()
    entries = list(await centre.db.scalars(
        select(TimeEntry).where(TimeEntry.ticket_id == open_ticket.id)
    ))
    by_source = {source: sum(e.seconds for e in entries if e.source == source)
                 for source in TimeSource}
    parts = {e.call_part for e in entries if e.source == TimeSource.call}
    assert {"ring", "talk", "wrapup"} <= parts
    assert by_source[TimeSource.call] >= 3
    assert by_source[TimeSource.timer] >= held + 1
    await centre.db.refresh(open_ticket)
    assert open_ticket.status == TicketStatus.solved

    # The supervisor's report: the call's seconds and the timer's, on this ticket.
    supervisor = await make_user(centre.db, role=Role.supervisor)
    await centre.db.commit()
    report = await page.context.browser.new_page()
    await report.goto(centre.app_url + "/login?next=/reports/time")
    await test_browser.sign_in(report, supervisor.email, DEFAULT_PASSWORD)
    per_ticket = report.get_by_role("table", name="Per ticket")
    total = sum(e.seconds for e in entries)
    row = per_ticket.get_by_role("row", name=re.compile(f"#{open_ticket.id}"))
    await expect(row).to_contain_text(f"0:{total // 60:02d}:{total % 60:02d}")
    per_day = report.get_by_role("table", name="Per agent and day")
    await expect(per_day.get_by_role("row", name=re.compile(re.escape(email)))).to_have_count(1)
    await report.screenshot(path=str(SHOTS / "time-report.png"), full_page=True)
    await report.close()

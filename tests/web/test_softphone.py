"""The agent's page in a real browser (Debian's chromium through Playwright): setting their
activity, seeing changes made elsewhere at once, ending wrap-up early."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import aiohttp
import pytest
from builders import DEFAULT_PASSWORD, make_token, make_user
from playwright.async_api import Page, expect
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.db import utcnow
from callcenter.routing import agents
from callcenter.routing.models import Activity, Agent, RoutingState
from web import test_browser

browser = test_browser.browser
page = test_browser.page

pytestmark = pytest.mark.backends("sqlite")  # the page adds nothing per backend
SHOTS = Path("/tmp/shots")


@pytest.fixture(autouse=True)
def shots() -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)


async def _open(page: Page, live_server: str, email: str) -> None:
    await page.goto(live_server + "/login?next=/agent")
    await test_browser.sign_in(page, email, DEFAULT_PASSWORD)
    await expect(page.get_by_role("heading", name="Softphone", level=1)).to_be_visible()
    await page.wait_for_selector(".softphone[data-ready]")  # its script has taken the controls


async def test_an_agent_sets_their_activity_and_sees_changes_made_elsewhere(
    page: Page, live_server: str, db_session: AsyncSession
) -> None:
    user = await make_user(db_session, name="Ada")
    agent = await agents.agent_for_user(db_session, user=user)
    token = await make_token(db_session, user=user)
    agent_id = agent.id
    await db_session.commit()
    await _open(page, live_server, user.email)
    status = page.get_by_role("status")
    await expect(status).to_have_text(re.compile(r"^\s*Offline\s*·"))

    form = page.get_by_role("form", name="Your activity")
    await form.get_by_label("Activity").select_option("Break")
    await form.get_by_label("Break reason").fill("lunch")
    await form.get_by_role("button", name="Set activity").click()
    await expect(status).to_have_text(re.compile(r"^\s*Break \(lunch\)\s*·"))
    await db_session.rollback()
    stored = await db_session.get(Agent, agent_id, populate_existing=True)
    assert stored is not None and stored.activity == Activity.on_break
    await page.screenshot(path=str(SHOTS / "softphone.png"), full_page=True)

    # Changed elsewhere (another tab, the API): the page follows without a reload.
    async with aiohttp.ClientSession() as http, http.put(
        f"{live_server}/api/agents/me/activity", json={"activity": "available"},
        headers={"Authorization": f"Bearer {token}"},
    ) as answer:
        assert answer.status == 200
    await expect(status).to_have_text(re.compile(r"^\s*Available\s*·"), timeout=5_000)
    await expect(form.get_by_label("Activity")).to_have_value("available")


async def test_an_agent_ends_wrap_up_early(
    page: Page, live_server: str, db_session: AsyncSession
) -> None:
    user = await make_user(db_session)
    agent = await agents.agent_for_user(db_session, user=user)
    await agents.set_activity(db_session, agent=agent, activity=Activity.available)
    await db_session.execute(
        update(Agent).where(Agent.id == agent.id).values(
            routing_state=RoutingState.wrap_up, wrapup_until=utcnow() + dt.timedelta(minutes=5)
        )
    )
    await db_session.commit()
    await _open(page, live_server, user.email)
    await expect(page.get_by_text("Wrap-up", exact=True)).to_be_visible()
    await page.get_by_role("button", name="End wrap-up").click()
    await expect(page.get_by_text("Idle", exact=True)).to_be_visible()
    await expect(page.get_by_role("button", name="End wrap-up")).to_be_hidden()
    await db_session.rollback()
    stored = await db_session.get(Agent, agent.id, populate_existing=True)
    assert stored is not None and stored.routing_state == RoutingState.idle


@pytest.mark.settings(
    twilio_api_key_sid="SK" + "ab" * 16, twilio_api_key_secret="a-secret-of-32-bytes-or-more-here",
    twilio_api_base_url="https://api.twilio.com",
)
async def test_against_twilio_the_page_loads_the_bundled_voice_sdk(
    page: Page, live_server: str, db_session: AsyncSession
) -> None:
    """Pointed at Twilio (the default API base URL), the page's phone is the Voice SDK the
    app serves itself, bundled from npm; this machine cannot reach Twilio, so it says so."""
    user = await make_user(db_session)
    await db_session.commit()
    loaded: list[str] = []
    page.on("response", lambda answer: loaded.append(answer.url))
    await _open(page, live_server, user.email)
    assert await page.evaluate(
        "import('/vendor/twilio-voice/twilio-voice.js').then((sdk) => typeof sdk.Device)"
    ) == "function"
    await page.wait_for_function("() => window.softphone.device !== null", timeout=10_000)
    assert f"{live_server}/vendor/twilio-voice/twilio-voice.js" in loaded
    assert not [url for url in loaded if "phone/emulator.js" in url]
    policy = (await page.request.get(live_server + "/agent")).headers["content-security-policy"]
    assert "wss://*.twilio.com" in policy

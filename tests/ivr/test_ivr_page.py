"""The admin's IVR flow pages in a real browser (Debian's chromium through Playwright):
the flow list, a draft saved from YAML (a broken one refused naming the node and the
reason), publishing with a note, the versions with who and when, the changes between two
versions, and a rollback; the next call meets what was published. Only admins may."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import DEFAULT_PASSWORD, make_token, make_user
from playwright.async_api import Page, expect
from quart.testing import QuartClient
from sqlalchemy.ext.asyncio import AsyncSession
from twilio_requests import call_sid, post_signed, voice_params
from web import test_browser

from callcenter.accounts.models import Role
from callcenter.config import Settings
from ivr.test_engine import HOURS
from ivr.test_library import CLOSED, SHIPPED

browser = test_browser.browser
page = test_browser.page
pytestmark = pytest.mark.backends("sqlite")  # the browser adds nothing per backend
SHOTS = Path("/tmp/shots")


@pytest.fixture(autouse=True)
def shots() -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)


async def test_an_admin_edits_publishes_compares_and_rolls_back_a_flow(
    page: Page, live_server: str, client: QuartClient, settings: Settings,
    db_session: AsyncSession,
):
    admin = await make_user(db_session, role=Role.admin, email="ada@example.com")
    await db_session.commit()
    await page.goto(f"{live_server}/login?next=/admin")
    await test_browser.sign_in(page, admin.email, DEFAULT_PASSWORD)
    await page.get_by_role("link", name="IVR flows").click()
    await expect(page.get_by_role("row", name="default")).to_contain_text("version 1")
    await page.get_by_role("link", name="default").click()
    await expect(page.get_by_role("heading", name="IVR flow default")).to_be_visible()

    draft = page.get_by_label("Draft (YAML)")
    save = page.get_by_role("form", name="Save the draft")
    await draft.fill(SHIPPED.replace("next: billing}", "next: bill}"))
    await save.get_by_role("button", name="Save draft").click()
    await expect(save.get_by_role("alert")).to_contain_text(
        "node 'main_menu': goes to 'bill', which does not exist")
    await draft.fill(CLOSED)
    await save.get_by_role("button", name="Save draft").click()
    await expect(save.get_by_role("alert")).to_be_hidden()

    # Tried in the simulator before anyone hears it.
    trial = page.get_by_role("region", name="Try it")
    await trial.get_by_role("button", name="Start a call").click()
    heard = trial.get_by_role("log", name="What the caller hears")
    await expect(heard).to_contain_text("Menu main_menu (attempt 1)")
    await trial.get_by_role("button", name="Press 7").click()
    await expect(heard).to_contain_text("Sorry, that is not one of the choices.")
    await trial.get_by_role("button", name="Press 2").click()
    await expect(heard).to_contain_text("Caller hears: “Support is closed today.”")
    await expect(heard).to_contain_text("The call ends.")
    await trial.get_by_label("Try").select_option("the live version")
    await trial.get_by_role("button", name="Start a call").click()
    await trial.get_by_label("Say").fill("I need billing help")
    await trial.get_by_role("button", name="Say it").click()
    await expect(heard).to_contain_text("waits in the billing queue")

    publish = page.get_by_role("form", name="Publish the draft")
    await publish.get_by_label("What changed").fill("Support closed today")
    await publish.get_by_role("button", name="Publish the draft").click()
    versions = page.get_by_role("region", name="Versions")
    await expect(versions.get_by_role("row", name="2 live")).to_contain_text(
        "Support closed today")
    await expect(versions.get_by_role("row", name="2 live")).to_contain_text("ada@example.com")
    await expect(page.get_by_text("Callers meet version 2.")).to_be_visible()

    compare = page.get_by_role("form", name="Compare two versions")
    await compare.get_by_label("From version").select_option("1")
    await compare.get_by_label("To version").select_option("2")
    await compare.get_by_role("button", name="Show the changes").click()
    await expect(page.get_by_text("Changes from version 1 to version 2")).to_be_visible()
    await expect(page.locator("pre.diff")).to_contain_text("+    text: Support is closed today.")
    await page.screenshot(path=str(SHOTS / "ivr-flow.png"), full_page=True)

    await versions.get_by_role("button", name="Roll back to version 1").click()
    await expect(versions.get_by_role("row", name="3 live")).to_contain_text(
        "Rolled back to version 1")
    answer = await post_signed(client, settings, "/twilio/voice/incoming",
                               voice_params(settings, sid=call_sid()))
    assert "v=3" in await answer.get_data(as_text=True)


@pytest.mark.backends("sqlite", "postgres")
async def test_only_admins_change_flows_and_a_refusal_names_every_problem(
    client: QuartClient, db_session: AsyncSession
):
    agent = await make_token(db_session, user=await make_user(db_session, role=Role.agent))
    admin = await make_token(db_session, user=await make_user(db_session, role=Role.admin))
    await db_session.commit()
    await client.get("/healthz")
    refused = await client.put("/api/ivr/flows/default/draft", json={"yaml": CLOSED},
                               headers={"Authorization": f"Bearer {agent}"})
    assert refused.status_code == 403
    broken = SHIPPED.replace("next: billing}", "next: bill}").replace(
        "no_agents: voicemail\n\n  urgent", "no_agents: nowhere\n\n  urgent")
    answer = await client.put("/api/ivr/flows/default/draft", json={"yaml": broken},
                              headers={"Authorization": f"Bearer {admin}"})
    assert answer.status_code == 422
    message = (await answer.get_json())["error"]["message"]
    assert "node 'main_menu': goes to 'bill'" in message and "node 'support'" in message
    flow = await client.get("/api/ivr/flows/default", headers={"Authorization": f"Bearer {admin}"})
    assert [v["number"] for v in (await flow.get_json())["versions"]] == [1]

    headers = {"Authorization": f"Bearer {admin}"}
    started = await client.post("/api/ivr/flows/default/simulate", json={}, headers=headers)
    step = await started.get_json()
    assert (step["then"], step["node"], step["attempt"]) == ("ask", "main_menu", 1)
    nobody = await client.post("/api/ivr/flows/default/simulate", headers=headers, json={
        "node": "main_menu", "attempt": 1, "digits": "2", "staffed": False})
    assert (await nobody.get_json())["then"] == "record", "nobody staffs support: voicemail"
    unknown = await client.post("/api/ivr/flows/default/simulate", headers=headers,
                                json={"node": "nowhere"})
    assert unknown.status_code == 422

    # The simulated date and time decides an hours node, in the node's own zone.
    saved = await client.put("/api/ivr/flows/hours/draft", json={"yaml": HOURS}, headers=headers)
    assert saved.status_code == 200, await saved.get_data(as_text=True)
    for at, then in (("2026-12-22T10:30:00", "ask"), ("2026-12-25T10:30:00", "end")):
        tried = await client.post("/api/ivr/flows/hours/simulate", headers=headers,
                                  json={"at": at})
        assert (await tried.get_json())["then"] == then, at

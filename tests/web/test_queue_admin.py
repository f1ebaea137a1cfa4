"""The routing pages: admins add, edit and delete queues and set workflows; supervisors edit
agents' skills. In a real browser (Debian's chromium through Playwright) against the live
server, and through the test client for what a browser never sends (a forged form).

Screenshots of each page go to /tmp/shots/ (to look at; assertions use roles and text).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import DEFAULT_PASSWORD, csrf_from, make_agent, make_user, sign_in
from playwright.async_api import Page, expect
from quart.testing import QuartClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.accounts.models import Role, User
from callcenter.audit.models import AuditEntry
from callcenter.routing import queues, workflows
from callcenter.routing.admin_views import parse_skills, parse_steps, steps_text
from callcenter.routing.models import Strategy, Workflow
from web import test_browser

# The real browser and its page, launched as the other browser tests launch them.
browser = test_browser.browser
page = test_browser.page
sign_in_page = test_browser.sign_in

pytestmark = pytest.mark.backends("sqlite")  # the pages add nothing per backend
SHOTS = Path("/tmp/shots")


@pytest.fixture
def shots() -> Path:
    """Where each page's screenshot goes, to be looked at (nothing asserts on pixels)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


async def shoot(page: Page, shots: Path, name: str) -> None:
    await page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


async def test_an_admin_adds_a_queue_edits_it_and_sets_its_workflow(
    page: Page, live_server: str, db_session: AsyncSession, shots: Path
) -> None:
    admin = await make_user(db_session, role=Role.admin)
    await make_agent(db_session, skills={"sales": 4}, languages=["en"])
    await db_session.commit()
    await page.goto(live_server + "/login?next=/admin")
    await sign_in_page(page, admin.email, DEFAULT_PASSWORD)
    await page.get_by_role("link", name="Queues, workflows and agents' skills").click()
    await expect(page.get_by_role("heading", name="Queues", level=1)).to_be_visible()
    await shoot(page, shots, "queues")

    add = page.get_by_role("form", name="Add a queue")
    await add.get_by_label("Name").fill("sales")
    await add.get_by_label("Description").fill("Sales, in English")
    await add.get_by_label("Expression").fill('skills HAS "sales" AND languages HAS en')
    await add.get_by_role("button", name="Add queue").click()

    alert = page.get_by_role("alert")
    await expect(alert).to_have_text(
        "Queue not added: Expression: at 37: expected a quoted value after HAS"
    )
    await expect(add.get_by_label("Description")).to_have_value("Sales, in English")
    await shoot(page, shots, "queues-refused")
    await add.get_by_label("Expression").fill('skills HAS "sales" AND languages HAS "en"')
    await add.get_by_label("Wrap-up (seconds)").fill("15")
    await add.get_by_role("button", name="Add queue").click()

    await expect(page.get_by_role("status")).to_have_text("Added queue sales.")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="sales", exact=True))
    await expect(row).to_contain_text("longest-idle")
    await expect(row).to_contain_text("1 / 1 / 1")  # the agent with the skill is in it

    await page.get_by_text("Edit the settings of sales", exact=True).click()
    settings = page.get_by_role("form", name="Settings of sales")
    await settings.get_by_label("Strategy").select_option("round-robin")
    await settings.get_by_role("button", name="Save sales").click()
    await expect(page.get_by_role("status")).to_have_text("Saved sales: Strategy.")
    await expect(row).to_contain_text("round-robin")

    await page.get_by_text("Workflow of sales", exact=True).click()
    editor = page.get_by_role("form", name="Workflow of sales")
    steps = editor.get_by_label("Steps of sales, one a line")
    await steps.fill("sales | skill_levels.sales >= 3 | 60\nsupport\nvoicemail")
    await editor.get_by_role("button", name="Save the workflow of sales").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "Workflow of sales not saved: step 2: timeout: every step but the last needs one "
        "(seconds), or the steps after it are never reached"
    )
    await expect(steps).to_have_value("sales | skill_levels.sales >= 3 | 60\nsupport\nvoicemail")
    await steps.fill("sales | skill_levels.sales >= 3 | 60\nsupport | 300\nvoicemail")
    await editor.get_by_role("button", name="Save the workflow of sales").click()
    await expect(page.get_by_role("status")).to_have_text(
        "Saved the workflow of sales: 3 step(s)."
    )
    await expect(row).to_contain_text("3 step(s)")
    await shoot(page, shots, "queues-after")

    await db_session.rollback()
    sales = await queues.queue_named(db_session, name="sales")
    assert sales is not None
    assert (sales.strategy, sales.wrapup_seconds) == (Strategy.round_robin, 15)
    workflow = await workflows.get_workflow(db_session, queue_id=sales.id)
    assert workflow is not None and workflow.steps == [
        {"queue": "sales", "expression": "skill_levels.sales >= 3", "timeout": 60},
        {"queue": "support", "timeout": 300},
        {"voicemail": True},
    ]


async def test_a_supervisor_edits_an_agents_skills(
    page: Page, live_server: str, db_session: AsyncSession, shots: Path
) -> None:
    lead = await make_user(db_session, role=Role.supervisor)
    agent = await make_agent(db_session, skills={"support": 2})
    await make_user(db_session)  # not every user is an agent
    await db_session.commit()
    await queues.create_queue(db_session, name="spanish", expression='languages HAS "es"')
    await db_session.commit()
    await page.goto(live_server + "/login?next=/admin/agents")
    await sign_in_page(page, lead.email, DEFAULT_PASSWORD)
    await expect(page.get_by_role("heading", name="Agents", level=1)).to_be_visible()
    user_email = await agent_email(db_session, agent.user_id)
    row = page.get_by_role("row").filter(has_text=user_email)
    await expect(row).to_contain_text("support=2")
    await shoot(page, shots, "agents")

    await row.get_by_label(f"Skills of {user_email}").fill("support=2, billing=11")
    await row.get_by_role("button", name=f"Save {user_email}").click()
    await expect(page.get_by_role("alert")).to_contain_text(
        f"{user_email} not saved: Skills billing: Input should be less than or equal to 10"
    )
    await expect(row.get_by_label(f"Skills of {user_email}")).to_have_value(
        "support=2, billing=11"
    )
    await row.get_by_label(f"Skills of {user_email}").fill("support=2, billing=4")
    await row.get_by_label(f"Languages of {user_email}").fill("es, en")
    await row.get_by_role("button", name=f"Save {user_email}").click()

    await expect(page.get_by_role("status")).to_have_text(
        f"Saved {user_email}: in billing, spanish, support, urgent."
    )
    await expect(row).to_contain_text("billing=4, support=2")
    await expect(row).to_contain_text("en, es")
    await shoot(page, shots, "agents-after")
    await db_session.refresh(agent)
    assert agent.skills == {"billing": 4, "support": 2}


async def agent_email(db_session: AsyncSession, user_id: int) -> str:
    user = await db_session.get(User, user_id)
    assert user is not None
    return user.email


# --- through the test client --------------------------------------------------------------


@pytest.fixture
async def admin_client(client: QuartClient, db_session: AsyncSession) -> QuartClient:
    admin = await make_user(db_session, role=Role.admin, email="root@example.com")
    await db_session.commit()
    assert (await sign_in(client, email=admin.email)).status_code == 302
    return client


async def post(client: QuartClient, action: str, **fields: str) -> str:
    """Send a form on the queues page as its button does; the page after the redirect."""
    html = await (await client.get("/admin/queues")).get_data(as_text=True)
    response = await client.post(action, form={"csrf_token": csrf_from(html), **fields})
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/admin/queues")
    return await (await client.get("/admin/queues")).get_data(as_text=True)


async def test_deleting_is_refused_with_the_reason(
    admin_client: QuartClient, db_session: AsyncSession
) -> None:
    billing = await queues.queue_named(db_session, name="billing")
    assert billing is not None
    sales = await queues.create_queue(db_session, name="sales")
    await db_session.commit()

    refused = await post(admin_client, f"/admin/queues/{billing.id}/delete")
    deleted = await post(admin_client, f"/admin/queues/{sales.id}/delete")

    assert "billing cannot be deleted: the IVR flow sends callers to it." in refused
    assert "Deleted queue sales." in deleted
    assert f'id="queue-{sales.id}"' not in deleted
    await db_session.rollback()
    actions = list(await db_session.scalars(select(AuditEntry.action)))
    assert actions == ["queue.deleted"]


async def test_an_empty_editor_removes_the_workflow(
    admin_client: QuartClient, db_session: AsyncSession
) -> None:
    support = await queues.queue_named(db_session, name="support")
    assert support is not None
    await workflows.set_workflow(db_session, queue=support, steps=[{"queue": "support"}])
    await db_session.commit()

    html = await post(admin_client, f"/admin/queues/{support.id}/workflow", steps="  \n")

    assert "Removed the workflow of support." in html
    await db_session.rollback()
    assert list(await db_session.scalars(select(Workflow))) == []


async def test_the_forms_need_their_csrf_token_and_the_admin_role(
    client: QuartClient, db_session: AsyncSession
) -> None:
    lead = await make_user(db_session, role=Role.supervisor)
    await db_session.commit()
    assert (await sign_in(client, email=lead.email)).status_code == 302

    assert (await client.get("/admin/queues")).status_code == 403
    assert (await client.get("/admin/agents")).status_code == 200
    forged = await client.post("/admin/queues", form={"name": "sales", "csrf_token": "x"})
    assert forged.status_code == 403
    assert "the form has expired" in await forged.get_data(as_text=True)
    html = await (await client.get("/admin/agents")).get_data(as_text=True)
    refused = await client.post(
        "/admin/queues", form={"name": "sales", "csrf_token": csrf_from(html)}
    )
    assert refused.status_code == 403
    assert "this needs the admin role" in await refused.get_data(as_text=True)
    assert await queues.queue_named(db_session, name="sales") is None


def test_the_editor_text_and_the_steps_match() -> None:
    text = 'billing | skills HAS "a" || skills HAS "b" | 60\nbilling | 120\nsupport\nvoicemail'

    steps = parse_steps(text + "\n\n")

    assert steps == [
        {"queue": "billing", "expression": 'skills HAS "a" || skills HAS "b"', "timeout": 60},
        {"queue": "billing", "timeout": 120},
        {"queue": "support"},
        {"voicemail": True},
    ]
    assert steps_text(Workflow(queue_id=1, steps=steps)) == text
    assert parse_skills("billing=3, Sales:1,\nsupport") == {
        "billing": "3", "sales": "1", "support": ""
    }

"""Admins change the desk's rules while it runs: a trigger added through the API acts on the
next ticket, a broken one is refused naming the part at fault, SLA targets and hours
change the next ticket's due times, the thread window decides joining, groups rename with
the rules that name them; all audited, all admins' only. And the page, in Chromium."""

from __future__ import annotations

import datetime as dt

import pytest
from builders import DEFAULT_PASSWORD, make_token, make_user
from playwright.async_api import Page, expect
from quart.testing import QuartClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from web import test_browser

from callcenter.accounts.models import Role
from callcenter.audit.models import AuditEntry
from callcenter.tickets.models import Macro, Trigger

browser = test_browser.browser
page = test_browser.page


async def _auth(session: AsyncSession, role: Role = Role.admin) -> dict[str, str]:
    token = await make_token(session, user=await make_user(session, role=role))
    await session.commit()
    return {"Authorization": f"Bearer {token}"}


async def _ticket(client: QuartClient, headers: dict[str, str], body: str, who: str) -> dict:
    made = await client.post("/api/tickets", headers=headers, json={
        "subject": "Help", "body": body, "requester": who})
    assert made.status_code == 201, await made.get_data(as_text=True)
    return await made.get_json()


async def test_a_trigger_added_through_the_api_acts_on_the_next_ticket(
    client: QuartClient, db_session: AsyncSession
):
    admin = await _auth(db_session)
    made = await client.post("/api/triggers", headers=admin, json={
        "name": "Refunds to Tier 2",
        "conditions": {"all": [{"field": "text", "op": "contains", "value": "refund"}]},
        "actions": [{"set": "group", "value": "Tier 2"}, {"add_tags": ["refund"]}],
        "on_update": False})
    assert made.status_code == 201, await made.get_data(as_text=True)
    trigger = await made.get_json()
    ticket = await _ticket(client, admin, "I need a refund", "u@example.com")
    groups = {g["name"]: g["id"] for g in
              (await (await client.get("/api/groups", headers=admin)).get_json())["items"]}
    assert ticket["group_id"] == groups["Tier 2"] and "refund" in ticket["tags"]

    # Turned off, it leaves the next one alone.
    off = await client.patch(f"/api/triggers/{trigger['id']}", headers=admin,
                             json={"active": False})
    assert (await off.get_json())["active"] is False
    assert "refund" not in (await _ticket(client, admin, "a refund", "v@example.com"))["tags"]
    assert (await client.delete(f"/api/triggers/{trigger['id']}", headers=admin)).status_code == 200
    await db_session.rollback()
    logged = list(await db_session.scalars(select(AuditEntry.action).where(
        AuditEntry.target == f"trigger:{trigger['id']}").order_by(AuditEntry.id)))
    assert logged == ["trigger.created", "trigger.changed", "trigger.removed"]


async def test_a_trigger_that_cannot_work_is_refused_naming_the_part(
    client: QuartClient, db_session: AsyncSession
):
    admin = await _auth(db_session)
    cases = [
        ({"all": [{"field": "colour", "op": "is", "value": "red"}]}, [{"add_tags": ["x"]}],
         "conditions.all[0]: unknown field 'colour'"),
        ({"any": [{"field": "priority", "op": "at_least", "value": "huge"}]},
         [{"add_tags": ["x"]}], "conditions.any[0]: 'huge' is not one of"),
        ({}, [{"set": "group", "value": "Nobody"}], "action 1: there is no group named 'Nobody'"),
        ({}, [{"add_tags": ["x"]}, {"notify": "pager"}], "action 2: notify takes 'webhook'"),
    ]
    for conditions, steps, reason in cases:
        refused = await client.post("/api/triggers", headers=admin, json={
            "name": "Bad", "conditions": conditions, "actions": steps})
        assert refused.status_code == 422, reason
        assert reason in (await refused.get_json())["error"]["message"]
    taken = await client.post("/api/triggers", headers=admin, json={
        "name": "Outage: the shop is down", "actions": [{"add_tags": ["x"]}]})
    assert taken.status_code == 422  # the shipped trigger's name
    await db_session.rollback()
    assert await db_session.scalar(select(Trigger).where(Trigger.name == "Bad")) is None


async def test_sla_policy_and_thread_window_change_what_happens_next(
    client: QuartClient, db_session: AsyncSession
):
    admin = await _auth(db_session)
    policies = (await (await client.get("/api/sla-policies", headers=admin)).get_json())["items"]
    assert [p["priority"] for p in policies] == ["urgent", "high", "normal", "low"]
    bad = await client.put("/api/sla-policies/normal", headers=admin, json={
        "first_reply_minutes": 60, "hours": "mon-fri 9-5", "zone": "UTC"})
    assert bad.status_code == 422 and "hours:" in (await bad.get_json())["error"]["message"]
    bad_zone = await client.put("/api/sla-policies/normal", headers=admin, json={
        "first_reply_minutes": 60, "hours": "24/7", "zone": "Mars/Olympus"})
    assert "zone:" in (await bad_zone.get_json())["error"]["message"]
    assert (await client.put("/api/sla-policies/huge", headers=admin, json={
        "hours": "24/7"})).status_code == 404
    put = await client.put("/api/sla-policies/normal", headers=admin, json={
        "first_reply_minutes": 90, "next_reply_minutes": None, "resolution_minutes": None,
        "hours": "24/7", "zone": "UTC"})
    assert put.status_code == 200
    ticket = await _ticket(client, admin, "hello", "w@example.com")
    [first] = [t for t in ticket["sla"] if t["name"] == "first_reply"]
    due = dt.datetime.fromisoformat(first["due_at"]) - dt.datetime.fromisoformat(
        ticket["created_at"])
    assert due == dt.timedelta(minutes=90)  # round the clock now: exactly 90 minutes
    assert [t["name"] for t in ticket["sla"]] == ["first_reply"]

    assert (await client.put("/api/desk-settings", headers=admin, json={
        "thread_window_hours": 0})).status_code == 200
    got = await (await client.get("/api/desk-settings", headers=admin)).get_json()
    assert got == {"thread_window_hours": 0}


async def test_renaming_a_group_keeps_the_rules_that_name_it(
    client: QuartClient, db_session: AsyncSession
):
    admin = await _auth(db_session)
    groups = {g["name"]: g["id"] for g in
              (await (await client.get("/api/groups", headers=admin)).get_json())["items"]}
    assert (await client.post("/api/groups", headers=admin, json={"name": "Support"})
            ).status_code == 422
    renamed = await client.patch(f"/api/groups/{groups['Tier 2']}", headers=admin,
                                 json={"name": "Escalations"})
    assert (await renamed.get_json())["name"] == "Escalations"
    await db_session.rollback()
    macro = await db_session.scalar(select(Macro).where(Macro.name == "Escalate to Tier 2"))
    assert {"set": "group", "value": "Escalations"} in macro.actions
    made = await client.post("/api/groups", headers=admin, json={"name": "Billing"})
    assert made.status_code == 201


async def test_the_rules_are_for_admins(client: QuartClient, db_session: AsyncSession):
    supervisor = await _auth(db_session, Role.supervisor)
    for method, path in (("GET", "/api/triggers"), ("GET", "/api/sla-policies"),
                         ("PUT", "/api/desk-settings"), ("POST", "/api/groups")):
        answer = await client.open(path, method=method, headers=supervisor,
                                   json={"name": "x", "thread_window_hours": 1})
        assert answer.status_code == 403, path
    assert (await client.get("/api/groups", headers=supervisor)).status_code == 200


@pytest.mark.backends("sqlite")  # the browser adds nothing per backend
async def test_an_admin_adds_a_trigger_and_changes_an_sla_on_the_page(
    page: Page, live_server: str, db_session: AsyncSession
) -> None:
    admin = await make_user(db_session, role=Role.admin, email="ada@example.com")
    await db_session.commit()
    await page.goto(live_server + "/login?next=/admin/desk")
    await test_browser.sign_in(page, admin.email, DEFAULT_PASSWORD)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Help desk rules")

    form = page.get_by_role("form", name="Add a trigger")
    await form.get_by_label("Name").fill("VIP first")
    await form.get_by_label("Actions (JSON)").fill('[{"set": "priority", "value": "huge"}]')
    await form.get_by_role("button", name="Add trigger").click()
    await expect(form.get_by_role("alert")).to_contain_text("'huge' is not one of")
    await form.get_by_label("Actions (JSON)").fill('[{"set": "priority", "value": "high"}')
    await form.get_by_role("button", name="Add trigger").click()
    await expect(form.get_by_role("alert")).to_contain_text("not valid JSON")
    await form.get_by_label("Actions (JSON)").fill('[{"set": "priority", "value": "high"}]')
    await form.get_by_role("button", name="Add trigger").click()
    await expect(page.locator("#desk-triggers")).to_contain_text("VIP first")

    sla = page.get_by_role("form", name="SLA for urgent")
    await sla.get_by_label("First reply (min)").fill("15")
    await sla.get_by_role("button", name="Save urgent SLA").click()
    await expect(page.get_by_role("form", name="SLA for urgent").get_by_label(
        "First reply (min)")).to_have_value("15")
    await db_session.rollback()
    trigger = await db_session.scalar(select(Trigger).where(Trigger.name == "VIP first"))
    assert trigger is not None and trigger.actions == [{"set": "priority", "value": "high"}]
    assert trigger.on_create and not trigger.on_update

"""The queues API: settings with live figures for everyone signed in; changes for admins,
refused with the field and the reason, each in the audit log."""

from __future__ import annotations

from typing import Any

import pytest
from builders import make_agent, make_queue, make_token, make_user, waiting_call
from quart.testing import QuartClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.accounts.models import Role
from callcenter.audit.models import AuditEntry
from callcenter.routing import agents, queues, workflows
from callcenter.routing.models import Activity


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def admin(client: QuartClient, db_session: AsyncSession) -> dict[str, str]:
    token = await make_token(db_session, user=await make_user(db_session, role=Role.admin))
    await db_session.commit()
    return bearer(token)


async def audit_log(db_session: AsyncSession) -> list[tuple[str, str, dict[str, Any]]]:
    await db_session.rollback()
    rows = await db_session.scalars(select(AuditEntry).order_by(AuditEntry.id))
    return [
        (row.action, row.target, row.details) for row in rows if row.action.startswith("queue.")
    ]


async def test_the_listing_shows_each_queues_settings_and_live_figures(
    client: QuartClient, db_session: AsyncSession
) -> None:
    token = await make_token(db_session, user=await make_user(db_session))
    await make_queue(db_session, name="billing", expression='skills HAS "billing"', max_size=5)
    await make_agent(db_session, skills={"billing": 2})
    await make_agent(db_session, skills={"billing": 1}, available=False)
    await make_agent(db_session, skills={"sales": 1})
    await waiting_call(db_session, queue="billing")
    await db_session.commit()

    response = await client.get("/api/queues", headers=bearer(token))

    assert response.status_code == 200
    items = {item["name"]: item for item in (await response.get_json())["items"]}
    assert list(items) == ["billing", "support", "urgent"], "the IVR flow's queues, by name"
    billing = items["billing"]
    assert billing["expression"] == 'skills HAS "billing"' and billing["max_size"] == 5
    assert (billing["waiting"], billing["agents"], billing["agents_staffing"]) == (1, 2, 1)
    assert billing["agents_free"] == 1
    assert billing["longest_wait_seconds"] >= 0
    assert (items["support"]["agents"], items["support"]["waiting"]) == (3, 0)
    one = await client.get(f"/api/queues/{billing['id']}", headers=bearer(token))
    alone = await one.get_json()
    # The same queue, read a moment later: its longest wait may have ticked on by a second.
    assert alone.pop("longest_wait_seconds") - billing.pop("longest_wait_seconds") in (0, 1)
    assert alone == billing


async def test_an_admin_adds_a_queue_that_selects_its_agents_at_once(
    client: QuartClient, db_session: AsyncSession, admin: dict[str, str]
) -> None:
    await make_agent(db_session, skills={"sales": 3}, languages=["en"])
    await make_agent(db_session, skills={"sales": 3}, languages=["ru"])
    await db_session.commit()
    body = {
        "name": "sales-en", "description": "Sales, in English",
        "expression": 'skills HAS "sales" AND languages HAS "en"', "strategy": "round-robin",
        "max_wait_seconds": 300, "overflow": "voicemail", "wrapup_seconds": 15,
    }

    response = await client.post("/api/queues", json=body, headers=admin)

    assert response.status_code == 201, await response.get_data(as_text=True)
    created = await response.get_json()
    assert {key: created[key] for key in body} == body
    assert (created["agents"], created["agents_free"], created["max_size"]) == (1, 1, None)
    assert created["service_level_seconds"] == 30, "the default"
    [(action, target, details)] = await audit_log(db_session)
    assert (action, target) == ("queue.created", f"queue:{created['id']}")
    assert details["expression"] == body["expression"] and details["name"] == "sales-en"


async def test_a_bad_expression_is_refused_with_its_position(
    client: QuartClient, db_session: AsyncSession, admin: dict[str, str]
) -> None:
    response = await client.post(
        "/api/queues", json={"name": "sales", "expression": "languages HAS en"}, headers=admin
    )

    assert response.status_code == 422
    assert (await response.get_json())["error"]["message"] == (
        "expression: at 14: expected a quoted value after HAS"
    )
    assert await queues.queue_named(db_session, name="sales") is None
    assert await audit_log(db_session) == []


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"name": "support"}, 409, "name: a queue named 'support' exists already"),
        ({"name": "sales", "overflow": "nowhere"}, 422, "overflow: there is no queue named"),
        ({"name": "sales", "overflow": "sales"}, 422, "overflow: a queue cannot overflow into"),
        ({"name": "voicemail"}, 400, "where overflow sends callers"),
        ({"name": "Sales"}, 400, "name"),
        ({"name": "sales", "max_size": 0}, 400, "max_size"),
        ({"name": "sales", "max_wait_seconds": 5}, 400, "max_wait_seconds"),
        ({"name": "sales", "wrapup_seconds": True}, 400, "wrapup_seconds"),
        ({"name": "sales", "strategy": "loudest"}, 400, "strategy"),
        ({"name": "sales", "description": "bell\x07"}, 400, "description"),
        ({"name": "sales", "colour": "red"}, 400, "colour"),
    ],
    ids=["taken", "unknown-overflow", "own-overflow", "voicemail", "capitals", "max-size",
         "max-wait", "bool-seconds", "strategy", "control-character", "unknown-field"],
)
async def test_a_setting_that_cannot_work_is_refused_with_the_field(
    client: QuartClient, admin: dict[str, str], body: dict[str, Any], status: int, message: str
) -> None:
    response = await client.post("/api/queues", json=body, headers=admin)

    assert response.status_code == status
    assert message in (await response.get_json())["error"]["message"]


async def test_changing_the_expression_moves_agents_at_once(
    client: QuartClient, db_session: AsyncSession, admin: dict[str, str]
) -> None:
    billing = await make_queue(db_session, name="billing")
    await make_agent(db_session, skills={"billing": 2})
    await make_agent(db_session, skills={"billing": 5})
    await db_session.commit()
    path = f"/api/queues/{billing.id}"
    assert (await (await client.get(path, headers=admin)).get_json())["agents"] == 2

    response = await client.patch(
        path, json={"expression": "skill_levels.billing >= 3", "strategy": "fewest-calls"},
        headers=admin,
    )

    assert response.status_code == 200
    changed = await response.get_json()
    assert (changed["agents"], changed["strategy"]) == (1, "fewest-calls")
    assert changed["wrapup_seconds"] == 0, "fields left out keep their value"
    [(action, _, details)] = await audit_log(db_session)
    assert action == "queue.updated"
    assert details == {
        "name": "billing", "expression": "skill_levels.billing >= 3", "strategy": "fewest-calls"
    }


async def test_null_lifts_a_limit_but_not_a_required_setting(
    client: QuartClient, db_session: AsyncSession, admin: dict[str, str]
) -> None:
    billing = await make_queue(db_session, name="billing", max_size=3)
    await db_session.commit()
    path = f"/api/queues/{billing.id}"

    lifted = await client.patch(path, json={"max_size": None}, headers=admin)
    refused = await client.patch(path, json={"description": None}, headers=admin)
    bad = await client.patch(path, json={"expression": "skills =="}, headers=admin)

    assert lifted.status_code == 200 and (await lifted.get_json())["max_size"] is None
    assert refused.status_code == 400
    assert bad.status_code == 422
    assert (await bad.get_json())["error"]["message"].startswith("expression: at 7: ")
    assert (await client.patch(path, json={"name": "cash"}, headers=admin)).status_code == 400
    unchanged = await client.patch(path, json={"max_size": None}, headers=admin)
    assert unchanged.status_code == 200
    assert [action for action, _, _ in await audit_log(db_session)] == ["queue.updated"]


async def test_deleting_a_queue_nobody_needs(
    client: QuartClient, db_session: AsyncSession, admin: dict[str, str]
) -> None:
    sales = await make_queue(db_session, name="sales")
    await workflows.set_workflow(db_session, queue=sales, steps=[{"queue": "sales"}])
    await db_session.commit()
    path = f"/api/queues/{sales.id}"

    response = await client.delete(path, headers=admin)

    assert response.status_code == 200
    assert (await response.get_json())["name"] == "sales"
    assert (await client.get(path, headers=admin)).status_code == 404
    assert (await client.delete(path, headers=admin)).status_code == 404
    assert (await audit_log(db_session))[-1][:2] == ("queue.deleted", f"queue:{sales.id}")
    assert await workflows.list_workflows(db_session) == [], "its workflow went with it"


async def test_a_queue_still_needed_is_not_deleted_and_409_says_why(
    client: QuartClient, db_session: AsyncSession, admin: dict[str, str]
) -> None:
    billing = await queues.queue_named(db_session, name="billing")
    assert billing is not None
    sales = await make_queue(db_session, name="sales")
    cash = await make_queue(db_session, name="cash")
    busy = await make_queue(db_session, name="busy")
    await make_queue(db_session, name="spill", overflow="cash")
    await workflows.set_workflow(
        db_session, queue=sales,
        steps=[{"queue": "sales", "timeout": 30}, {"queue": "busy", "timeout": 30},
               {"queue": "cash"}],
    )
    await waiting_call(db_session, queue="busy")
    await db_session.commit()

    reasons = {}
    for queue in (billing, cash, busy):
        response = await client.delete(f"/api/queues/{queue.id}", headers=admin)
        assert response.status_code == 409
        reasons[queue.name] = (await response.get_json())["error"]["message"]

    assert reasons == {
        "billing": "queue 'billing' cannot be deleted: the IVR flow sends callers to it",
        "cash": "queue 'cash' cannot be deleted: queue 'spill' overflows into it",
        "busy": "queue 'busy' cannot be deleted: tasks are waiting in it or being handled",
    }
    await db_session.rollback()
    await workflows.delete_workflow(db_session, queue=sales)
    spill = await queues.queue_named(db_session, name="spill")
    assert spill is not None
    await queues.update_queue(db_session, queue=spill, overflow=None)
    await db_session.commit()
    assert (await client.delete(f"/api/queues/{cash.id}", headers=admin)).status_code == 200, (
        "nothing needs it any more"
    )


async def test_escalation_into_a_queue_keeps_it(
    client: QuartClient, db_session: AsyncSession, admin: dict[str, str]
) -> None:
    sales = await make_queue(db_session, name="sales")
    cash = await make_queue(db_session, name="cash")
    await workflows.set_workflow(
        db_session, queue=sales, steps=[{"queue": "sales", "timeout": 30}, {"queue": "cash"}]
    )
    await db_session.commit()

    response = await client.delete(f"/api/queues/{cash.id}", headers=admin)

    assert response.status_code == 409
    assert (await response.get_json())["error"]["message"] == (
        "queue 'cash' cannot be deleted: the workflow of queue 'sales' escalates to it"
    )


@pytest.mark.backends("sqlite")  # who may do what does not depend on the database
async def test_agents_and_supervisors_read_and_only_admins_change(
    client: QuartClient, db_session: AsyncSession
) -> None:
    supervisor = await make_user(db_session, role=Role.supervisor)
    lead = bearer(await make_token(db_session, user=supervisor))
    agent = bearer(await make_token(db_session, user=await make_user(db_session)))
    support = await make_queue(db_session, name="support")
    await db_session.commit()
    path = f"/api/queues/{support.id}"

    for headers in (lead, agent):
        assert (await client.get("/api/queues", headers=headers)).status_code == 200
        assert (await client.get(path, headers=headers)).status_code == 200
        created = await client.post("/api/queues", json={"name": "x"}, headers=headers)
        assert created.status_code == 403
        assert (await client.patch(path, json={}, headers=headers)).status_code == 403
        assert (await client.delete(path, headers=headers)).status_code == 403
    assert (await client.get("/api/queues")).status_code == 401
    assert (await client.get("/api/queues/2147483648", headers=lead)).status_code == 404
    assert (await client.delete("/api/queues/2147483648", headers=lead)).status_code == 403
    assert await queues.queue_named(db_session, name="x") is None


async def test_an_agent_going_available_shows_in_the_figures(
    client: QuartClient, db_session: AsyncSession, admin: dict[str, str]
) -> None:
    agent = await make_agent(db_session, available=False)
    await db_session.commit()
    support = await queues.queue_named(db_session, name="support")
    assert support is not None
    path = f"/api/queues/{support.id}"
    before = await (await client.get(path, headers=admin)).get_json()

    await agents.set_activity(db_session, agent=agent, activity=Activity.available)
    await db_session.commit()
    after = await (await client.get(path, headers=admin)).get_json()

    assert (before["agents_free"], after["agents_free"]) == (0, 1)

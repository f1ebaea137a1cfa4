"""Workflows: escalation steps checked before they are saved, read back compiled, and the
API that sets them (admins) and shows them (everyone signed in)."""

from __future__ import annotations

from typing import Any

import pytest
from builders import make_agent, make_queue, make_token, make_user
from quart.testing import QuartClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.accounts.models import Role
from callcenter.audit.models import AuditEntry
from callcenter.routing import edits, workflows
from callcenter.routing.models import Workflow

EXAMPLE = [
    {"queue": "billing", "expression": "skill_levels.billing >= 3", "timeout": 60},
    {"queue": "billing", "timeout": 120},
    {"queue": "support", "timeout": 300},
    {"voicemail": True},
]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- the service ----------------------------------------------------------------------------


async def test_the_steps_are_stored_and_read_back_compiled(db_session: AsyncSession) -> None:
    billing = await make_queue(db_session, name="billing")
    await make_queue(db_session, name="support")
    await workflows.set_workflow(db_session, queue=billing, steps=EXAMPLE)

    workflow = await workflows.get_workflow(db_session, queue_id=billing.id)

    assert workflow is not None and workflow.steps == EXAMPLE
    first = workflows.step(workflow, 0)
    assert first is not None and (first.queue, first.timeout) == ("billing", 60)
    assert first.expression is not None
    assert first.expression.matches({"skills": {"billing": 3}})
    assert not first.expression.matches({"skills": {"billing": 2}})
    second = workflows.step(workflow, 1)
    assert second == workflows.Step(queue="billing", expression=None, timeout=120)
    assert workflows.step(workflow, 2) == workflows.Step("support", None, 300)
    assert workflows.step(workflow, 3) == workflows.Step(None, None, None), "voicemail"
    assert workflows.step(workflow, 4) is None
    assert workflows.step(workflow, -1) is None


async def test_setting_steps_again_replaces_them(db_session: AsyncSession) -> None:
    billing = await make_queue(db_session, name="billing")
    first = [{"queue": "billing", "timeout": 120}, {"voicemail": True}]
    await workflows.set_workflow(db_session, queue=billing, steps=first)
    await workflows.set_workflow(db_session, queue=billing, steps=[{"queue": "billing"}])

    rows = list(await db_session.scalars(select(Workflow)))

    assert [row.steps for row in rows] == [[{"queue": "billing"}]]
    assert await workflows.delete_workflow(db_session, queue=billing)
    assert await workflows.get_workflow(db_session, queue_id=billing.id) is None
    assert not await workflows.delete_workflow(db_session, queue=billing)


REFUSED = [
    pytest.param([], None, "from 1 to 10 steps", id="none"),
    pytest.param([{"queue": "billing", "timeout": 60}] * 10 + [{"queue": "billing"}], None,
                 "from 1 to 10 steps", id="eleven"),
    pytest.param([{"queue": "support"}], 0, "the workflow's own queue 'billing'", id="first"),
    pytest.param([{"queue": "billing", "timeout": 60}, {"queue": "sales"}], 1,
                 "there is no queue named 'sales'", id="unknown-queue"),
    pytest.param([{"queue": "billing", "expression": "languages HAS en"}], 0,
                 "expression: at 14: expected a quoted value after HAS", id="expression"),
    pytest.param([{"queue": "billing"}, {"queue": "support"}], 0,
                 "timeout: every step but the last needs one", id="no-timeout"),
    pytest.param([{"queue": "billing", "timeout": 4}, {"queue": "support"}], 0,
                 "timeout: from 5 to 14400 seconds", id="short-timeout"),
    pytest.param([{"queue": "billing", "timeout": 60}, {"voicemail": True}, {"queue": "support"}],
                 1, "it must be the last step", id="voicemail-in-the-middle"),
    pytest.param([{"queue": "billing", "timeout": 60}, {"voicemail": True}, {"voicemail": True}],
                 1, "it must be the last step", id="two-voicemails"),
    pytest.param([{"queue": "billing", "timeout": 60}, {"queue": "support"}, {"voicemail": True}],
                 1, "the steps after it are never reached", id="voicemail-out-of-reach"),
    pytest.param([{"voicemail": True}], 0, "the workflow's own queue", id="voicemail-first"),
    pytest.param([{"queue": "billing", "timeout": 60}, {"voicemail": True, "timeout": 30}], 1,
                 "voicemail takes no expression and no timeout", id="voicemail-timeout"),
]


@pytest.mark.parametrize(("steps", "index", "reason"), REFUSED)
async def test_steps_routing_could_not_follow_are_refused_with_the_step(
    db_session: AsyncSession, steps: list[dict[str, Any]], index: int | None, reason: str
) -> None:
    billing = await make_queue(db_session, name="billing")
    await make_queue(db_session, name="support")

    with pytest.raises(workflows.WorkflowError) as refused:
        await workflows.set_workflow(db_session, queue=billing, steps=steps)

    assert refused.value.step == index
    assert reason in refused.value.reason
    assert await workflows.get_workflow(db_session, queue_id=billing.id) is None


async def test_a_queue_another_workflow_escalates_to_cannot_be_deleted(
    db_session: AsyncSession,
) -> None:
    billing = await make_queue(db_session, name="billing")
    support = await make_queue(db_session, name="support")
    assert await edits.why_undeletable(db_session, queue=support, flow_queues=()) is None
    await workflows.set_workflow(
        db_session, queue=billing, steps=[{"queue": "billing", "timeout": 30}, {"queue": "support"}]
    )

    assert await edits.why_undeletable(db_session, queue=support, flow_queues=()) == (
        "the workflow of queue 'billing' escalates to it"
    )
    assert await edits.why_undeletable(db_session, queue=billing, flow_queues=()) is None
    assert await edits.why_undeletable(
        db_session, queue=billing, flow_queues={"billing"}
    ) == "the IVR flow sends callers to it"


# --- the API --------------------------------------------------------------------------------


async def test_an_admin_sets_a_workflow_and_everyone_reads_it(
    client: QuartClient, db_session: AsyncSession
) -> None:
    admin = await make_token(db_session, user=await make_user(db_session, role=Role.admin))
    agent = await make_token(db_session, user=await make_user(db_session))
    await make_agent(db_session, skills={"billing": 4})
    billing = await make_queue(db_session, name="billing")
    await db_session.commit()

    response = await client.put(
        f"/api/queues/{billing.id}/workflow", json={"steps": EXAMPLE}, headers=bearer(admin)
    )

    assert response.status_code == 200, await response.get_data(as_text=True)
    body = await response.get_json()
    assert body["queue"] == "billing"
    assert body["steps"][0] == {
        "queue": "billing", "voicemail": False, "expression": "skill_levels.billing >= 3",
        "timeout": 60,
    }
    assert body["steps"][3]["voicemail"] is True
    listing = await (await client.get("/api/workflows", headers=bearer(agent))).get_json()
    assert [item["id"] for item in listing["items"]] == [body["id"]]
    one = await client.get(f"/api/workflows/{body['id']}", headers=bearer(agent))
    assert (await one.get_json())["steps"] == body["steps"]
    entries = await db_session.scalars(
        select(AuditEntry).where(AuditEntry.action == "workflow.set")
    )
    assert [(e.target, e.details["steps"]) for e in entries] == [(f"queue:{billing.id}", EXAMPLE)]


async def test_a_step_that_cannot_work_is_a_422_naming_the_step_and_position(
    client: QuartClient, db_session: AsyncSession
) -> None:
    admin = await make_token(db_session, user=await make_user(db_session, role=Role.admin))
    billing = await make_queue(db_session, name="billing")
    await db_session.commit()
    steps = [
        {"queue": "billing", "timeout": 60},
        {"queue": "support", "expression": "languages HAS en"},
    ]

    response = await client.put(
        f"/api/queues/{billing.id}/workflow", json={"steps": steps}, headers=bearer(admin)
    )

    assert response.status_code == 422
    assert (await response.get_json())["error"]["message"] == (
        "steps[1]: expression: at 14: expected a quoted value after HAS"
    )
    assert (await client.get("/api/workflows", headers=bearer(admin))).status_code == 200
    await db_session.rollback()
    assert await workflows.get_workflow(db_session, queue_id=billing.id) is None


@pytest.mark.parametrize(
    "step",
    [{}, {"queue": "billing", "voicemail": True}, {"voicemail": 1}, {"queue": "billing",
                                                                   "timeout": True}],
    ids=["empty", "both", "one-for-true", "true-for-seconds"],
)
async def test_a_step_of_the_wrong_shape_is_a_400(
    client: QuartClient, db_session: AsyncSession, step: dict[str, Any]
) -> None:
    admin = await make_token(db_session, user=await make_user(db_session, role=Role.admin))
    billing = await make_queue(db_session, name="billing")
    await db_session.commit()

    response = await client.put(
        f"/api/queues/{billing.id}/workflow", json={"steps": [step]}, headers=bearer(admin)
    )

    assert response.status_code == 400


async def test_removing_a_workflow(client: QuartClient, db_session: AsyncSession) -> None:
    admin = await make_token(db_session, user=await make_user(db_session, role=Role.admin))
    billing = await make_queue(db_session, name="billing")
    await workflows.set_workflow(db_session, queue=billing, steps=[{"queue": "billing"}])
    await db_session.commit()
    path = f"/api/queues/{billing.id}/workflow"

    response = await client.delete(path, headers=bearer(admin))

    assert response.status_code == 200
    assert (await response.get_json())["steps"][0]["queue"] == "billing"
    assert (await client.delete(path, headers=bearer(admin))).status_code == 404
    listing = await (await client.get("/api/workflows", headers=bearer(admin))).get_json()
    assert listing["items"] == []


@pytest.mark.backends("sqlite")  # who may change workflows does not depend on the database
async def test_only_admins_change_workflows(client: QuartClient, db_session: AsyncSession) -> None:
    lead = await make_token(db_session, user=await make_user(db_session, role=Role.supervisor))
    billing = await make_queue(db_session, name="billing")
    await db_session.commit()
    path = f"/api/queues/{billing.id}/workflow"
    body = {"steps": [{"queue": "billing"}]}

    assert (await client.put(path, json=body, headers=bearer(lead))).status_code == 403
    assert (await client.delete(path, headers=bearer(lead))).status_code == 403
    assert (await client.put(path, json=body)).status_code == 401
    assert (await client.get("/api/workflows")).status_code == 401
    assert (await client.get("/api/workflows/1", headers=bearer(lead))).status_code == 404
    assert (await client.put("/api/queues/999/workflow", json=body)).status_code == 401

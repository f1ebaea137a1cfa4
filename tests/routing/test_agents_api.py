"""Agents set their own activity, end their wrap-up and send heartbeats; supervisors see
everyone, edit skills (queues follow) and read the state log; routing owns ringing and calls."""

from __future__ import annotations

from typing import Any

import pytest
from builders import make_agent, make_offer, make_queue, make_token, make_user, waiting_call
from quart.testing import QuartClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.accounts.models import Role, User
from callcenter.audit.models import AuditEntry
from callcenter.routing import agents, queues, tasks
from callcenter.routing.models import Agent, ReservationStatus, RoutingState, TaskStatus


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_agent_goes_available_and_back_offline(client: QuartClient, db_session: AsyncSession):
    token = await make_token(db_session, user=await make_user(db_session, role=Role.agent))
    await db_session.commit()
    me = await (await client.get("/api/agents/me", headers=bearer(token))).get_json()
    assert me["activity"] == "offline" and me["client_identity"].startswith("agent-")
    response = await client.put(
        "/api/agents/me/activity", json={"activity": "available"}, headers=bearer(token)
    )
    assert response.status_code == 200
    assert (await response.get_json())["activity"] == "available"
    assert await queues.staffed_names(db_session) == {"billing", "support", "urgent"}
    response = await client.put(
        "/api/agents/me/activity", json={"activity": "offline"}, headers=bearer(token)
    )
    assert (await response.get_json())["activity"] == "offline"


async def test_routing_states_cannot_be_chosen(client: QuartClient, db_session: AsyncSession):
    token = await make_token(db_session, user=await make_user(db_session, role=Role.agent))
    await db_session.commit()
    for activity in ("on-call", "ringing", "wrap-up", "lunch"):
        response = await client.put(
            "/api/agents/me/activity", json={"activity": activity}, headers=bearer(token)
        )
        assert response.status_code == 400
        assert "error" in await response.get_json()


async def test_a_break_carries_its_reason_and_never_cuts_a_call(
    client: QuartClient, db_session: AsyncSession
):
    user = await make_user(db_session, role=Role.agent)
    token = await make_token(db_session, user=user)
    agent = await agents.agent_for_user(db_session, user=user)
    agent.routing_state = RoutingState.on_call
    await db_session.commit()
    response = await client.put(
        "/api/agents/me/activity", json={"activity": "break", "reason": "lunch"},
        headers=bearer(token),
    )
    assert response.status_code == 200
    body = await response.get_json()
    assert (body["activity"], body["break_reason"]) == ("break", "lunch")
    assert body["routing_state"] == "on-call", "the call goes on"


async def test_only_supervisors_list_agents(client: QuartClient, db_session: AsyncSession):
    agent_token = await make_token(db_session, user=await make_user(db_session, role=Role.agent))
    lead = await make_token(db_session, user=await make_user(db_session, role=Role.supervisor))
    await db_session.commit()
    await client.get("/api/agents/me", headers=bearer(agent_token))
    assert (await client.get("/api/agents", headers=bearer(agent_token))).status_code == 403
    assert (await client.get("/api/agents")).status_code == 401
    listing = await (await client.get("/api/agents", headers=bearer(lead))).get_json()
    assert [item["activity"] for item in listing["items"]] == ["offline"]


# --- a supervisor edits skills ----------------------------------------------------------------


async def test_a_supervisors_skill_change_moves_the_agent_between_queues(
    client: QuartClient, db_session: AsyncSession
) -> None:
    lead = await make_token(db_session, user=await make_user(db_session, role=Role.supervisor))
    await make_queue(db_session, name="spanish", expression='languages HAS "es"')
    await make_queue(db_session, name="vip", expression="skill_levels.billing >= 5")
    agent = await make_agent(db_session, skills={"billing": 2})
    await db_session.commit()
    path = f"/api/agents/{agent.id}"

    response = await client.patch(
        path, json={"skills": {"billing": 5, "sales": 1}, "languages": ["es", "en"]},
        headers=bearer(lead),
    )

    assert response.status_code == 200, await response.get_data(as_text=True)
    body = await response.get_json()
    assert (body["skills"], body["languages"]) == ({"billing": 5, "sales": 1}, ["en", "es"])
    assert body["queues"] == ["billing", "spanish", "support", "urgent", "vip"]
    response = await client.patch(path, json={"languages": []}, headers=bearer(lead))
    body = await response.get_json()
    assert body["queues"] == ["billing", "support", "urgent", "vip"], "no Spanish, no spanish"
    assert body["skills"] == {"billing": 5, "sales": 1}, "left out, kept"
    await db_session.rollback()
    entries = list(
        await db_session.scalars(
            select(AuditEntry).where(AuditEntry.action == "agent.updated").order_by(AuditEntry.id)
        )
    )
    assert [entry.target for entry in entries] == [f"agent:{agent.id}"] * 2
    assert entries[1].details["languages"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"skills": {"billing": 11}},
        {"skills": {"billing": 0}},
        {"skills": {"Billing Team": 3}},
        {"skills": {"billing": True}},
        {"languages": ["english"]},
        {"capacity": {"voice": 2}},
        {"capacity": {"voice": 1, "chat": 21}},
        {"skils": {"billing": 3}},
    ],
    ids=["level-11", "level-0", "name", "bool-level", "language", "two-calls", "chats", "typo"],
)
async def test_skills_and_capacity_outside_their_bounds_are_refused(
    client: QuartClient, db_session: AsyncSession, body: dict[str, Any]
) -> None:
    lead = await make_token(db_session, user=await make_user(db_session, role=Role.supervisor))
    agent = await make_agent(db_session, skills={"billing": 2})
    await db_session.commit()

    response = await client.patch(f"/api/agents/{agent.id}", json=body, headers=bearer(lead))

    assert response.status_code == 400
    await db_session.refresh(agent)
    assert agent.skills == {"billing": 2} and agent.capacity == {"voice": 1}


@pytest.mark.backends("sqlite")  # who may edit does not depend on the database
async def test_agents_do_not_edit_skills(client: QuartClient, db_session: AsyncSession) -> None:
    agent = await make_agent(db_session)
    own = await make_token(db_session, user=await user_of(db_session, agent))
    lead = await make_token(db_session, user=await make_user(db_session, role=Role.supervisor))
    await db_session.commit()
    body = {"skills": {"billing": 10}}

    mine = await client.patch(f"/api/agents/{agent.id}", json=body, headers=bearer(own))
    assert mine.status_code == 403
    missing = await client.patch("/api/agents/999", json=body, headers=bearer(lead))
    assert missing.status_code == 404
    huge = await client.patch("/api/agents/2147483648", json=body, headers=bearer(lead))
    assert huge.status_code == 404


async def user_of(db_session: AsyncSession, agent: Agent) -> User:
    user = await db_session.get(User, agent.user_id)
    assert user is not None
    return user


# --- wrap-up, heartbeat, the log ----------------------------------------------------------------


async def test_an_agent_ends_their_wrap_up_early(
    client: QuartClient, db_session: AsyncSession
) -> None:
    agent = await make_agent(db_session)
    token = await make_token(db_session, user=await user_of(db_session, agent))
    _, task = await waiting_call(db_session)
    reservation = await make_offer(db_session, task=task, agent=agent)
    tasks.accept(reservation, task)
    await agents.answered(db_session, agent_id=agent.id, task_id=task.id)
    assert await agents.task_done(
        db_session, agent_id=agent.id, task_id=task.id, wrapup_seconds=120, talk_seconds=30
    )
    tasks.close(reservation, status=ReservationStatus.completed)
    tasks.set_status(task, TaskStatus.wrapping)
    await db_session.commit()
    me = await (await client.get("/api/agents/me", headers=bearer(token))).get_json()
    assert me["routing_state"] == "wrap-up" and me["wrapup_until"] is not None

    response = await client.post("/api/agents/me/wrap-up/end", headers=bearer(token))

    assert response.status_code == 200
    body = await response.get_json()
    assert (body["routing_state"], body["wrapup_until"]) == ("idle", None)
    await db_session.refresh(task)
    assert task.status == TaskStatus.completed, "the task wrapped up is done"
    again = await client.post("/api/agents/me/wrap-up/end", headers=bearer(token))
    assert again.status_code == 409
    assert (await again.get_json())["error"]["message"] == "you are not in wrap-up"


async def test_the_heartbeat_is_recorded_and_tells_the_page_its_state(
    client: QuartClient, db_session: AsyncSession
) -> None:
    agent = await make_agent(db_session)
    token = await make_token(db_session, user=await user_of(db_session, agent))
    await db_session.commit()
    assert agent.last_heartbeat_at is None

    response = await client.post("/api/agents/me/heartbeat", headers=bearer(token))

    assert response.status_code == 200
    body = await response.get_json()
    assert (body["activity"], body["routing_state"]) == ("available", "idle")
    await db_session.refresh(agent)
    assert agent.last_heartbeat_at is not None
    assert (await client.post("/api/agents/me/heartbeat")).status_code == 401


async def test_a_supervisor_reads_an_agents_log_newest_first(
    client: QuartClient, db_session: AsyncSession
) -> None:
    user = await make_user(db_session)
    token = await make_token(db_session, user=user)
    lead = await make_token(db_session, user=await make_user(db_session, role=Role.supervisor))
    await db_session.commit()
    for body in ({"activity": "available"}, {"activity": "break", "reason": "lunch"},
                 {"activity": "offline"}):
        response = await client.put("/api/agents/me/activity", json=body, headers=bearer(token))
        assert response.status_code == 200
    agent_id = (await (await client.get("/api/agents/me", headers=bearer(token))).get_json())["id"]
    path = f"/api/agents/{agent_id}/log"

    full = await (await client.get(path, headers=bearer(lead))).get_json()
    last_two = await (await client.get(path + "?limit=2", headers=bearer(lead))).get_json()

    assert [(row["kind"], row["state"], row["reason"]) for row in full["items"]] == [
        ("activity", "offline", None),
        ("activity", "break", "lunch"),
        ("activity", "available", None),
    ]
    assert last_two["items"] == full["items"][:2]
    assert (await client.get(path, headers=bearer(token))).status_code == 403
    assert (await client.get(path + "?limit=0", headers=bearer(lead))).status_code == 400
    assert (await client.get("/api/agents/999/log", headers=bearer(lead))).status_code == 404

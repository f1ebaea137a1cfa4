"""Agents set their own activity; supervisors see everyone; routing owns ringing and calls."""

from __future__ import annotations

from builders import make_token, make_user
from quart.testing import QuartClient
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.accounts.models import Role
from callcenter.routing import agents
from callcenter.routing.models import RoutingState


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
    assert await agents.staffed(db_session) == 1
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

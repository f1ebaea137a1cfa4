"""The tasks API: supervisors see who waits, in the order agents will get them."""

from __future__ import annotations

import datetime as dt

import pytest
from builders import make_token, make_user, waiting_call
from quart.testing import QuartClient
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.accounts.models import Role
from callcenter.db import utcnow
from callcenter.routing import tasks
from callcenter.routing.models import TaskStatus


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sid(n: int) -> str:
    return f"CA{n:032d}"


async def test_waiting_tasks_come_in_line_order_with_their_place(
    client: QuartClient, db_session: AsyncSession
) -> None:
    lead = await make_token(db_session, user=await make_user(db_session, role=Role.supervisor))
    now = utcnow()
    old = now - dt.timedelta(minutes=5)
    _, first = await waiting_call(db_session, sid=sid(1), queue="support", entered_at=old)
    _, urgent = await waiting_call(db_session, sid=sid(2), queue="support", priority=10,
                                   entered_at=now - dt.timedelta(seconds=10),
                                   attributes={"language": "ru"})
    _, later = await waiting_call(db_session, sid=sid(3), queue="support", entered_at=now)
    _, other = await waiting_call(db_session, sid=sid(4), queue="billing", entered_at=now)
    _, answered = await waiting_call(db_session, sid=sid(5), queue="support", entered_at=old)
    tasks.set_status(answered, TaskStatus.assigned)
    await db_session.commit()

    response = await client.get("/api/tasks", headers=bearer(lead))

    assert response.status_code == 200
    items = (await response.get_json())["items"]
    assert [(item["id"], item["queue"], item["position"]) for item in items] == [
        (other.id, "billing", 1),
        (urgent.id, "support", 1),
        (first.id, "support", 2),
        (later.id, "support", 3),
    ], "by queue, then highest priority, then longest waiting; answered calls are gone"
    by_id = {item["id"]: item for item in items}
    assert by_id[urgent.id]["attributes"] == {"from": "+14155550100", "language": "ru"}
    assert by_id[urgent.id]["priority"] == 10 and by_id[urgent.id]["channel"] == "voice"
    assert by_id[first.id]["age_seconds"] >= 300 > by_id[later.id]["age_seconds"]
    assert by_id[first.id]["call_id"] == first.call_id
    for task in (first, urgent, later, other):
        assert by_id[task.id]["position"] == await tasks.position(db_session, task=task)


async def test_one_queues_line(client: QuartClient, db_session: AsyncSession) -> None:
    lead = await make_token(db_session, user=await make_user(db_session, role=Role.admin))
    await waiting_call(db_session, sid=sid(1), queue="support")
    _, billing = await waiting_call(db_session, sid=sid(2), queue="billing")
    await db_session.commit()

    response = await client.get("/api/tasks?queue=billing", headers=bearer(lead))
    unknown = await client.get("/api/tasks?queue=sales", headers=bearer(lead))
    malformed = await client.get("/api/tasks?queue=Sales!", headers=bearer(lead))

    assert [item["id"] for item in (await response.get_json())["items"]] == [billing.id]
    assert unknown.status_code == 404
    assert "no queue named 'sales'" in (await unknown.get_json())["error"]["message"]
    assert malformed.status_code == 400


@pytest.mark.backends("sqlite")  # who may look does not depend on the database
async def test_agents_do_not_see_the_line(client: QuartClient, db_session: AsyncSession) -> None:
    agent = await make_token(db_session, user=await make_user(db_session))
    await db_session.commit()

    assert (await client.get("/api/tasks", headers=bearer(agent))).status_code == 403
    assert (await client.get("/api/tasks")).status_code == 401

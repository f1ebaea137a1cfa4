"""The tickets and customers API as an integration would use it: create, find, change, merge."""

from __future__ import annotations

from builders import make_token, make_user
from quart.testing import QuartClient
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.accounts.models import Role


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _agent(session: AsyncSession, role: Role = Role.agent) -> tuple[int, dict[str, str]]:
    user = await make_user(session, role=role)
    token = await make_token(session, user=user)
    await session.commit()
    return user.id, bearer(token)


async def test_create_find_and_work_a_ticket(client: QuartClient, db_session: AsyncSession):
    me, auth = await _agent(db_session)
    made = await client.post("/api/tickets", headers=auth, json={
        "requester": "(415) 555-0100", "subject": "Help", "body": "our site is down!!",
    })
    assert made.status_code == 201
    ticket = await made.get_json()
    assert ticket["priority"] == "urgent" and "outage" in ticket["tags"]
    assert {t["name"] for t in ticket["sla"]} == {"first_reply", "resolution"}

    # The number typed another way finds it; so does its id and a word.
    for q in ("415.555.0100", f"#{ticket['id']}", "SITE"):
        found = await (await client.get("/api/tickets", headers=auth,
                                        query_string={"q": q})).get_json()
        assert [t["id"] for t in found["items"]] == [ticket["id"]], q

    changed = await client.patch(f"/api/tickets/{ticket['id']}", headers=auth, json={
        "status": "pending", "assignee_id": me, "tags": ["outage", "VIP customer"],
    })
    body = await changed.get_json()
    assert changed.status_code == 200, body
    assert body["status"] == "pending" and body["assignee_id"] == me
    assert body["tags"] == ["outage", "vip-customer"]
    note = await client.post(f"/api/tickets/{ticket['id']}/notes", headers=auth,
                             json={"body": "Called them back."})
    assert note.status_code == 201
    events = (await (await client.get(f"/api/tickets/{ticket['id']}/events",
                                      headers=auth)).get_json())["items"]
    kinds = [(e["kind"], e["data"].get("field")) for e in events]
    assert ("field_change", "status") in kinds and ("field_change", "assignee") in kinds
    assert kinds[-1] == ("note", None)
    mine = await (await client.get("/api/tickets", headers=auth,
                                   query_string={"view": "mine"})).get_json()
    assert [t["id"] for t in mine["items"]] == [ticket["id"]]
    unassigned = await client.patch(f"/api/tickets/{ticket['id']}", headers=auth,
                                    json={"assignee_id": None})
    assert (await unassigned.get_json())["assignee_id"] is None


async def test_refusals_say_why(client: QuartClient, db_session: AsyncSession):
    _, auth = await _agent(db_session)
    bad = await client.post("/api/tickets", headers=auth, json={
        "requester": "not a number", "subject": "x", "body": "y",
    })
    assert bad.status_code == 422
    assert "neither a phone number nor an email" in (await bad.get_json())["error"]["message"]
    made = await (await client.post("/api/tickets", headers=auth, json={
        "requester": "ann@shop.example", "subject": "x", "body": "y",
    })).get_json()
    group = await client.patch(f"/api/tickets/{made['id']}", headers=auth, json={"group_id": 999})
    assert group.status_code == 422
    itself = await client.post(f"/api/tickets/{made['id']}/merge", headers=auth,
                               json={"into_id": made["id"]})
    assert itself.status_code == 409
    missing = await client.get("/api/tickets/99999999999", headers=auth)
    assert missing.status_code == 404


async def test_macros_and_last_five(client: QuartClient, db_session: AsyncSession):
    _, auth = await _agent(db_session)
    ids = []
    for subject in ("One", "Two", "Three"):
        made = await client.post("/api/tickets", headers=auth, json={
            "requester": "+14155550100", "subject": subject, "body": subject,
        })
        ids.append((await made.get_json())["id"])
    last_five = await (await client.get(f"/api/tickets/{ids[0]}/last-five",
                                        headers=auth)).get_json()
    assert [t["id"] for t in last_five["items"]] == [ids[2], ids[1]]
    assert last_five["items"][0]["url"] == f"/tickets/{ids[2]}"

    macros = (await (await client.get("/api/macros", headers=auth)).get_json())["items"]
    solved = next(m for m in macros if m["name"] == "Solved on the phone")
    applied = await client.post(f"/api/tickets/{ids[0]}/macros/{solved['id']}", headers=auth)
    body = await applied.get_json()
    assert body["ticket"]["status"] == "solved"
    assert [e["kind"] for e in body["events"]] == ["note", "field_change"]


async def test_admins_add_macros_agents_do_not(client: QuartClient, db_session: AsyncSession):
    _, agent = await _agent(db_session)
    _, admin = await _agent(db_session, Role.admin)
    macro = {"name": "Billing", "body": "Passed to billing.",
             "actions": [{"set": "group", "value": "Support"}, {"add_tags": ["billing"]}]}
    assert (await client.post("/api/macros", headers=agent, json=macro)).status_code == 403
    assert (await client.post("/api/macros", headers=admin, json=macro)).status_code == 201
    assert (await client.post("/api/macros", headers=admin, json=macro)).status_code == 409
    broken = {**macro, "name": "Broken", "actions": [{"set": "group", "value": "Nope"}]}
    refused = await client.post("/api/macros", headers=admin, json=broken)
    assert refused.status_code == 422
    assert "no group named 'Nope'" in (await refused.get_json())["error"]["message"]


async def test_customers_identities_and_merge(client: QuartClient, db_session: AsyncSession):
    _, auth = await _agent(db_session)
    first = await (await client.post("/api/tickets", headers=auth, json={
        "requester": "+14155550100", "subject": "Phone", "body": "a call",
    })).get_json()
    second = await (await client.post("/api/tickets", headers=auth, json={
        "requester": "Ann@Shop.example", "subject": "Mail", "body": "an email",
    })).get_json()
    phone_owner, mail_owner = first["requester_id"], second["requester_id"]
    found = await (await client.get("/api/customers", headers=auth,
                                    query_string={"q": "ANN@shop.example"})).get_json()
    assert [c["id"] for c in found["items"]] == [mail_owner]
    taken = await client.post(f"/api/customers/{phone_owner}/identities", headers=auth,
                              json={"kind": "email", "value": "ann@shop.example"})
    assert taken.status_code == 409
    merged = await client.post(f"/api/customers/{mail_owner}/merge", headers=auth,
                               json={"into_id": phone_owner})
    body = await merged.get_json()
    assert merged.status_code == 200, body
    assert {i["value"] for i in body["identities"]} == {"+14155550100", "ann@shop.example"}
    assert body["merged_from"] == [mail_owner]
    gone = await (await client.get(f"/api/customers/{mail_owner}", headers=auth)).get_json()
    assert gone["merged_into_id"] == phone_owner and gone["identities"] == []
    history = await (await client.get(f"/api/customers/{phone_owner}/timeline",
                                      headers=auth)).get_json()
    assert {e["ticket_id"] for e in history["items"]} == {first["id"], second["id"]}
    last_five = await (await client.get(f"/api/tickets/{first['id']}/last-five",
                                        headers=auth)).get_json()
    assert [t["id"] for t in last_five["items"]] == [second["id"]]

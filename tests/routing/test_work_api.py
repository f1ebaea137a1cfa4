"""The agent's work through the API: the offer with its caller's tickets, hold refused when
there is no caller, the wrap-up saved onto the ticket, and the dispositions admins keep."""

from __future__ import annotations

import datetime as dt

from builders import make_offer, make_token, make_user, waiting_call
from quart.testing import QuartClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.accounts.models import Role, User
from callcenter.audit.models import AuditEntry
from callcenter.customers import service as customers
from callcenter.db import utcnow
from callcenter.routing import agents, dispositions, tasks
from callcenter.routing.models import Activity, Agent, ReservationStatus, TaskStatus
from callcenter.telephony.models import Call, CallStatus
from callcenter.tickets.models import Channel, Ticket, TicketEvent, TicketEventKind, TicketStatus


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _agent_with_token(
    db: AsyncSession, role: Role = Role.agent
) -> tuple[Agent, User, str]:
    user = await make_user(db, role=role)
    agent = await agents.agent_for_user(db, user=user)
    await agents.set_activity(db, agent=agent, activity=Activity.available)
    return agent, user, await make_token(db, user=user)


async def _history(db: AsyncSession, customer_id: int) -> tuple[Ticket, list[Ticket]]:
    """Seven older tickets and an open one, each updated a day apart."""
    now = utcnow()
    older = []
    for age in range(8, 1, -1):
        ticket = Ticket(
            subject=f"Ticket {age} days old", status=TicketStatus.solved, channel=Channel.email,
            requester_id=customer_id, updated_at=now - dt.timedelta(days=age),
        )
        db.add(ticket)
        older.append(ticket)
    open_ticket = Ticket(
        subject="Open one", status=TicketStatus.open, channel=Channel.phone,
        requester_id=customer_id, updated_at=now - dt.timedelta(hours=1),
    )
    db.add(open_ticket)
    await db.flush()
    return open_ticket, older


async def test_nothing_to_work_on_is_null(client: QuartClient, db_session: AsyncSession):
    _agent, _user, token = await _agent_with_token(db_session)
    await db_session.commit()
    answer = await client.get("/api/agents/me/work", headers=bearer(token))
    assert answer.status_code == 200
    assert await answer.get_json() == {"work": None}


async def test_a_ringing_offer_shows_the_caller_their_open_ticket_and_last_five(
    client: QuartClient, db_session: AsyncSession
):
    agent, _user, token = await _agent_with_token(db_session)
    call, task = await waiting_call(db_session)
    customer = await customers.find_or_create_by_phone(db_session, phone=call.from_number)
    customer.name = "Dana"
    call.customer_id = customer.id
    open_ticket, older = await _history(db_session, customer.id)
    await make_offer(db_session, task=task, agent=agent)
    await db_session.commit()

    work = (await (await client.get("/api/agents/me/work", headers=bearer(token))).get_json())[
        "work"
    ]
    assert work["stage"] == "ringing" and work["kind"] == "inbound"
    assert work["number"] == "+14155550100" and work["withheld"] is False
    assert work["customer_name"] == "Dana" and work["queue"] == "support"
    assert work["ticket"]["id"] == open_ticket.id
    assert work["ticket"]["url"] == f"/tickets/{open_ticket.id}"
    # The five latest others, newest first: not the open one, not the two oldest.
    assert [t["subject"] for t in work["last_five"]] == [
        f"Ticket {age} days old" for age in range(2, 7)
    ]
    assert {t["id"] for t in work["last_five"]}.isdisjoint({older[0].id, older[1].id})
    ring_until = dt.datetime.fromisoformat(work["ring_until"])
    assert dt.timedelta(seconds=15) < ring_until - utcnow() <= dt.timedelta(seconds=20)


async def test_hold_and_hang_up_need_a_caller_on_the_line(
    client: QuartClient, db_session: AsyncSession
):
    _agent, _user, token = await _agent_with_token(db_session)
    await db_session.commit()
    held = await client.put("/api/agents/me/work/hold", json={"hold": True}, headers=bearer(token))
    assert held.status_code == 409
    assert (await held.get_json())["error"]["code"] == "not_on_a_call"
    hung = await client.post("/api/agents/me/work/hangup", headers=bearer(token))
    assert hung.status_code == 409


async def _talked(db: AsyncSession, agent_id: int) -> tuple[int, Call, Ticket]:
    """A call this agent answered and finished, landed on the customer's open ticket."""
    agent = await agents.get_agent(db, agent_id=agent_id)
    assert agent is not None
    call, task = await waiting_call(db)
    customer = await customers.find_or_create_by_phone(db, phone=call.from_number)
    call.customer_id = customer.id
    open_ticket, _older = await _history(db, customer.id)
    reservation = await make_offer(db, task=task, agent=agent)
    tasks.accept(reservation, task)
    tasks.close(reservation, status=ReservationStatus.completed)
    tasks.set_status(task, TaskStatus.wrapping, reason="answered")
    call.status = CallStatus.completed
    db.add(TicketEvent(
        ticket_id=open_ticket.id, kind=TicketEventKind.call, call_id=call.id, body="A call."
    ))
    await db.flush()
    return reservation.id, call, open_ticket


async def test_the_wrap_up_goes_on_the_ticket(client: QuartClient, db_session: AsyncSession):
    agent, user, token = await _agent_with_token(db_session)
    reservation_id, call, ticket = await _talked(db_session, agent.id)
    resolved = await dispositions.add(db_session, name="Resolved")
    await db_session.commit()

    saved = await client.post("/api/agents/me/work/wrap-up", headers=bearer(token), json={
        "reservation_id": reservation_id, "notes": "Reshipped.\nCustomer happy.",
        "disposition_id": resolved.id, "ticket_status": "solved",
    })
    assert saved.status_code == 200, await saved.get_data(as_text=True)
    assert await saved.get_json() == {
        "ticket_id": ticket.id, "ticket_status": "solved", "url": f"/tickets/{ticket.id}"
    }
    await db_session.rollback()
    events = list(await db_session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
    ))
    assert [e.kind for e in events] == [
        TicketEventKind.call, TicketEventKind.note, TicketEventKind.field_change
    ]
    note, change = events[1], events[2]
    assert note.body == "Reshipped.\nCustomer happy." and note.author_id == user.id
    assert note.data["disposition"] == "Resolved" and note.data["call_sid"] == call.sid
    assert change.data == {"field": "status", "from": "open", "to": "solved"}
    stored = await db_session.get(Ticket, ticket.id, populate_existing=True)
    assert stored is not None and stored.status == TicketStatus.solved
    assert stored.solved_at is not None
    assert (await db_session.get(Call, call.id, populate_existing=True)).disposition == "Resolved"

    # The work shows the wrap-up stage with the disposition given.
    work = (await (await client.get("/api/agents/me/work", headers=bearer(token))).get_json())[
        "work"
    ]
    assert work["stage"] == "wrap-up" and work["disposition"] == "Resolved"


async def test_a_wrap_up_is_refused_for_someone_elses_call_or_a_retired_disposition(
    client: QuartClient, db_session: AsyncSession
):
    agent, _user, token = await _agent_with_token(db_session)
    _other, _other_user, other_token = await _agent_with_token(db_session)
    reservation_id, _call, ticket = await _talked(db_session, agent.id)
    retired = await dispositions.add(db_session, name="Old code")
    dispositions.retire(retired)
    await db_session.commit()
    theirs = await client.post("/api/agents/me/work/wrap-up", headers=bearer(other_token), json={
        "reservation_id": reservation_id, "notes": "not mine",
    })
    assert theirs.status_code == 404
    stale = await client.post("/api/agents/me/work/wrap-up", headers=bearer(token), json={
        "reservation_id": reservation_id, "disposition_id": retired.id,
    })
    assert stale.status_code == 400
    assert (await stale.get_json())["error"]["code"] == "unknown_disposition"
    unknown = await client.post("/api/agents/me/work/wrap-up", headers=bearer(token), json={
        "reservation_id": reservation_id, "ticket_status": "closed-forever",
    })
    assert unknown.status_code == 400
    await db_session.rollback()
    notes = await db_session.scalars(
        select(TicketEvent).where(
            TicketEvent.ticket_id == ticket.id, TicketEvent.kind == TicketEventKind.note
        )
    )
    assert list(notes) == []


async def test_admins_keep_the_dispositions_agents_pick_from(
    client: QuartClient, db_session: AsyncSession
):
    _agent, _user, agent_token = await _agent_with_token(db_session)
    admin = await make_user(db_session, role=Role.admin)
    admin_token = await make_token(db_session, user=admin)
    await db_session.commit()
    refused = await client.post(
        "/api/dispositions", json={"name": "Resolved"}, headers=bearer(agent_token)
    )
    assert refused.status_code == 403
    for name in ("Resolved", "Refund issued"):
        added = await client.post(
            "/api/dispositions", json={"name": name}, headers=bearer(admin_token)
        )
        assert added.status_code == 201
    refund = await added.get_json()
    listed = await (await client.get("/api/dispositions", headers=bearer(agent_token))).get_json()
    assert [d["name"] for d in listed["items"]] == ["Refund issued", "Resolved"]

    gone = await client.delete(f"/api/dispositions/{refund['id']}", headers=bearer(admin_token))
    assert gone.status_code == 200 and (await gone.get_json())["active"] is False
    listed = await (await client.get("/api/dispositions", headers=bearer(agent_token))).get_json()
    assert [d["name"] for d in listed["items"]] == ["Resolved"]
    again = await client.delete(f"/api/dispositions/{refund['id']}", headers=bearer(admin_token))
    assert again.status_code == 404
    back = await client.post(
        "/api/dispositions", json={"name": "Refund issued"}, headers=bearer(admin_token)
    )
    assert (await back.get_json())["id"] == refund["id"]
    await db_session.rollback()
    logged = await db_session.scalars(
        select(AuditEntry.action).where(AuditEntry.action.like("disposition.%"))
        .order_by(AuditEntry.id)
    )
    assert list(logged) == [
        "disposition.added", "disposition.added", "disposition.retired", "disposition.added"
    ]


async def test_a_transfer_names_one_target_and_needs_a_caller(
    client: QuartClient, db_session: AsyncSession
):
    agent, _user, token = await _agent_with_token(db_session)
    colleague, _colleague_user, _ = await _agent_with_token(db_session)
    await db_session.commit()
    for body in ({}, {"agent_id": colleague.id, "queue_id": 1}):
        refused = await client.post(
            "/api/agents/me/work/transfer", json=body, headers=bearer(token)
        )
        assert refused.status_code == 400
    warm_to_queue = await client.post(
        "/api/agents/me/work/transfer", json={"queue_id": 1, "warm": True}, headers=bearer(token)
    )
    assert warm_to_queue.status_code == 400
    assert (await warm_to_queue.get_json())["error"]["code"] == "warm_needs_an_agent"
    nobody = await client.post(
        "/api/agents/me/work/transfer", json={"agent_id": colleague.id}, headers=bearer(token)
    )
    assert nobody.status_code == 409
    for step in ("complete", "cancel"):
        answer = await client.post(f"/api/agents/me/work/transfer/{step}", headers=bearer(token))
        assert answer.status_code == 409
    targets = await (
        await client.get("/api/agents/me/work/transfer-targets", headers=bearer(token))
    ).get_json()
    assert [(a["id"], a["free"]) for a in targets["agents"]] == [(colleague.id, True)]
    assert agent.id not in [a["id"] for a in targets["agents"]]

"""The blocklist as supervisors and agents use it: any format, expiry, hits, CSV, audit."""

from __future__ import annotations

import datetime as dt

from builders import make_token, make_user
from quart.testing import QuartClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from twilio_requests import call_sid, post_signed, voice_params

from callcenter.accounts.models import Role
from callcenter.audit.models import AuditEntry
from callcenter.blocklist import service as blocklist
from callcenter.blocklist.models import BlocklistEntry
from callcenter.config import Settings


async def _auth(session: AsyncSession, role: Role) -> dict[str, str]:
    token = await make_token(session, user=await make_user(session, role=role))
    await session.commit()
    return {"Authorization": f"Bearer {token}"}


async def _call(client: QuartClient, settings: Settings, sid: str, from_: str) -> str:
    response = await post_signed(
        client, settings, "/twilio/voice/incoming", voice_params(settings, sid=sid, from_=from_)
    )
    return await response.get_data(as_text=True)


async def test_an_agent_blocks_a_number_typed_any_way(
    client: QuartClient, settings: Settings, db_session: AsyncSession
):
    agent = await _auth(db_session, Role.agent)
    made = await client.post("/api/blocklist", headers=agent, json={
        "kind": "exact", "value": "(415) 555-0166", "reason": "threats"})
    body = await made.get_json()
    assert made.status_code == 201, body
    assert body["value"] == "+14155550166"
    sid = call_sid()
    for _ in range(3):  # Twilio retrying the same call: one call, one hit
        assert "<Reject" in await _call(client, settings, sid, "+14155550166")
    assert "<Reject" in await _call(client, settings, call_sid(), "+14155550166")
    await db_session.rollback()
    entry = await db_session.scalar(select(BlocklistEntry))
    assert entry.hit_count == 2 and entry.last_hit_at is not None
    logged = await db_session.scalar(select(AuditEntry).where(
        AuditEntry.action == "blocklist.added"))
    assert logged.details["value"] == "+14155550166" and logged.details["reason"] == "threats"
    # Agents block the one in front of them; ranges and policies are supervisors'.
    prefix = await client.post("/api/blocklist", headers=agent,
                               json={"kind": "prefix", "value": "+1900"})
    assert prefix.status_code == 403


async def test_an_expiring_block_and_unblocking(
    client: QuartClient, settings: Settings, db_session: AsyncSession
):
    supervisor = await _auth(db_session, Role.supervisor)
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    made = await (await client.post("/api/blocklist", headers=supervisor, json={
        "kind": "exact", "value": "+14155550166", "expires_at": soon})).get_json()
    assert "<Reject" in await _call(client, settings, call_sid(), "+14155550166")
    entry = await db_session.get(BlocklistEntry, made["id"])
    entry.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    await db_session.commit()
    assert "<Reject" not in await _call(client, settings, call_sid(), "+14155550166")
    listed = await (await client.get("/api/blocklist", headers=supervisor)).get_json()
    assert listed["items"][0]["expired"] is True
    gone = await client.delete(f"/api/blocklist/{made['id']}", headers=supervisor)
    assert gone.status_code == 200
    assert (await client.get("/api/blocklist", headers=supervisor)).status_code == 200
    past = await client.post("/api/blocklist", headers=supervisor, json={
        "kind": "exact", "value": "+14155550166",
        "expires_at": (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()})
    assert past.status_code == 422


async def test_csv_import_is_all_or_nothing_and_export_reads_back(
    client: QuartClient, db_session: AsyncSession
):
    supervisor = await _auth(db_session, Role.supervisor)
    bad = "kind,value,reason,expires_at\nexact,415-555-0101,spam,\nexact,12,typo,\nfax,x,,\n"
    refused = await client.post("/api/blocklist/import", headers=supervisor, json={"csv": bad})
    message = (await refused.get_json())["error"]["message"]
    assert refused.status_code == 422
    assert "line 3: '12' is not a phone number" in message and "line 4: kind" in message
    assert await db_session.scalar(select(BlocklistEntry)) is None
    good = ("kind,value,reason,expires_at\nexact,415-555-0101,spam,\nprefix,+1 900,premium,\n"
            "domain,@Spam.Example,,\nanonymous,,withheld,\nemail,Bob@x.example,,\n")
    imported = await client.post("/api/blocklist/import", headers=supervisor, json={"csv": good})
    assert (await imported.get_json()) == {"added": 5}
    exported = await client.get("/blocklist.csv", headers=supervisor)
    text = await exported.get_data(as_text=True)
    assert exported.content_type.startswith("text/csv")
    values = {line.split(",")[1] for line in text.splitlines()[1:]}
    assert values == {"+14155550101", "+1900", "spam.example", "", "bob@x.example"}
    # What the export wrote imports again (renewing, not doubling).
    again = await client.post("/api/blocklist/import", headers=supervisor, json={"csv": text})
    assert again.status_code == 200
    listed = await (await client.get("/api/blocklist", headers=supervisor)).get_json()
    assert listed["total"] == 5


async def test_addresses_and_domains_for_the_email_channel(db_session: AsyncSession):
    await blocklist.add(db_session, kind=blocklist.BlockKind.domain, value="spam.example")
    await blocklist.add(db_session, kind=blocklist.BlockKind.email, value="Bob@Ok.Example")
    assert (await blocklist.match_address(db_session, address="x@mail.spam.example")) is not None
    assert (await blocklist.match_address(db_session, address="BOB@ok.example")) is not None
    assert await blocklist.match_address(db_session, address="ann@ok.example") is None
    assert await blocklist.match_address(db_session, address="a@notspam.example") is None

"""IVR flows as versioned data: a published version is what new calls meet, a call already
in the IVR keeps the version it started with, a rollback publishes an old version again,
and an invalid flow (or one naming a queue that does not exist) is never published."""

from __future__ import annotations

import re
from html import unescape

import pytest
from quart.testing import QuartClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from twilio_requests import call_sid, post_signed, voice_params

from callcenter.audit.models import AuditEntry
from callcenter.config import PROJECT_DIR, Settings
from callcenter.flows import ivr as ivr_flows
from callcenter.ivr import service as library
from callcenter.ivr.flow import FlowError, report
from callcenter.ivr.models import IvrFlow
from callcenter.telephony.models import Call

SHIPPED = (PROJECT_DIR / "ivr" / "default.yaml").read_text()
# The same flow with support closed: option 2 now says so and hangs up.
CLOSED = SHIPPED.replace(
    '{digits: "2", words: [support, technical, help], next: support}',
    '{digits: "2", words: [support, technical, help], next: closed}',
) + "\n  closed:\n    type: hangup\n    text: Support is closed today.\n"


async def _incoming(client: QuartClient, settings: Settings, sid: str) -> str:
    answer = await post_signed(client, settings, "/twilio/voice/incoming",
                               voice_params(settings, sid=sid))
    assert answer.status_code == 200
    return await answer.get_data(as_text=True)


def _gather(twiml: str) -> str:
    """The path the caller's choice is posted to (the Gather's action), without the host."""
    action = unescape(re.search(r'<Gather[^>]* action="([^"]+)"', twiml).group(1))
    return "/" + action.split("/", 3)[3]


async def _choose(client: QuartClient, settings: Settings, path: str, sid: str) -> str:
    answer = await post_signed(client, settings, path,
                               voice_params(settings, sid=sid, status="in-progress", Digits="2"))
    assert answer.status_code == 200
    return await answer.get_data(as_text=True)


async def _publish(session: AsyncSession, text: str, note: str) -> int:
    await ivr_flows.import_yaml(session, text=text, source="test", user_id=None)
    version = await ivr_flows.publish(session, name="default", note=note, user_id=None)
    await session.commit()
    return version.number


async def test_a_call_in_the_menu_keeps_its_version_while_new_calls_meet_the_new_one(
    client: QuartClient, settings: Settings, db_session: AsyncSession
):
    first, second = call_sid(), call_sid()
    before = await _incoming(client, settings, first)
    assert "v=1" in _gather(before), "the shipped flow, published as version 1 at start-up"
    assert await _publish(db_session, CLOSED, "support closed for the day") == 2
    after = await _incoming(client, settings, second)
    assert "v=2" in _gather(after)

    # Nobody staffs support here: version 1 sends the caller on to voicemail.
    kept = await _choose(client, settings, _gather(before), first)
    assert "<Record" in kept and "closed" not in kept
    assert "Support is closed today." in await _choose(client, settings, _gather(after), second)

    await db_session.rollback()
    pinned = dict((await db_session.execute(select(Call.sid, Call.flow_version_id))).all())
    assert pinned[first] != pinned[second] and None not in pinned.values()
    audit = await db_session.scalar(select(AuditEntry).where(
        AuditEntry.action == "ivr.flow.published", AuditEntry.details["version"].as_integer() == 2))
    assert audit is not None and audit.details["note"] == "support closed for the day"


async def test_a_rollback_publishes_the_old_version_again_and_the_diff_shows_the_change(
    client: QuartClient, settings: Settings, db_session: AsyncSession
):
    await _incoming(client, settings, call_sid())  # the app has started: version 1 is there
    await _publish(db_session, CLOSED, "closed")
    flow = await library.get_flow(db_session, name="default")
    assert flow is not None
    version = await ivr_flows.rollback(db_session, name="default", number=1, user_id=None)
    await db_session.commit()
    assert version.number == 3 and version.note == "Rolled back to version 1"

    sid = call_sid()
    twiml = await _incoming(client, settings, sid)
    assert "v=3" in _gather(twiml)
    assert "<Record" in await _choose(client, settings, _gather(twiml), sid)

    [third, second, first] = await library.versions(db_session, flow_id=flow.id)
    assert third.definition == first.definition
    change = library.diff(first.definition, second.definition, names=("v1", "v2"))
    assert "+    text: Support is closed today." in change
    assert "-      next: support" in change and "+      next: closed" in change


async def test_an_invalid_flow_is_never_published(client: QuartClient, db_session: AsyncSession):
    await client.get("/healthz")
    with pytest.raises(FlowError) as unknown_queue:
        await _publish(db_session, SHIPPED.replace("queue: billing", "queue: bills"), "typo")
    assert unknown_queue.value.node == "billing" and "'bills' does not exist" in str(
        unknown_queue.value)
    await db_session.rollback()
    with pytest.raises(FlowError) as broken:
        await ivr_flows.import_yaml(db_session, text=SHIPPED.replace("next: billing", "next: bill"),
                                    source="test", user_id=None)
    assert broken.value.node == "main_menu"
    await db_session.rollback()
    flow = await db_session.scalar(select(IvrFlow))
    assert flow is not None
    assert [v.number for v in await library.versions(db_session, flow_id=flow.id)] == [1]


def test_validate_names_the_file_line_node_and_reason_of_every_problem():
    broken = SHIPPED.replace("next: billing}", "next: bill}").replace(
        "no_agents: voicemail\n\n  urgent", "no_agents: nowhere\n\n  urgent")
    found = report(broken, source="flow.yaml")
    assert len(found) == 2
    menu_line = SHIPPED.splitlines().index("  main_menu:") + 1
    assert found[0] == (
        f"flow.yaml:{menu_line}: node 'main_menu': goes to 'bill', which does not exist")
    assert found[1].startswith("flow.yaml:") and "node 'support': goes to 'nowhere'" in found[1]
    assert report(SHIPPED, source="flow.yaml") == []


# "Press 9 if your shop is down": marked urgent, then the same support queue.
MARKED = SHIPPED.replace(
    '{digits: "9", words: [down, outage, emergency], next: urgent}',
    '{digits: "9", words: [down, outage, emergency], next: shop_down}',
) + """
  shop_down:
    type: set
    priority: 90
    skills: [outages]
    ticket_priority: urgent
    next: support
"""


async def test_a_set_node_marks_the_call_for_the_queue_it_reaches(
    client: QuartClient, settings: Settings, db_session: AsyncSession
):
    from builders import make_agent

    from callcenter.routing.models import Task

    await make_agent(db_session, skills={"outages": 5})
    await db_session.commit()
    await _incoming(client, settings, call_sid())
    await _publish(db_session, MARKED, "shop-down callers are urgent in support")
    sid = call_sid()
    twiml = await _incoming(client, settings, sid)
    chosen = await post_signed(client, settings, _gather(twiml), voice_params(
        settings, sid=sid, status="in-progress", Digits="9"))
    body = await chosen.get_data(as_text=True)
    assert ">support</Enqueue>" in body
    wait = unescape(re.search(r'waitUrl="([^"]+)"', body).group(1))
    waited = await post_signed(client, settings, "/" + wait.split("/", 3)[3], voice_params(
        settings, sid=sid, status="in-progress", QueueSid="QU" + "1" * 32))
    assert waited.status_code == 200
    await db_session.rollback()
    task = await db_session.scalar(select(Task))
    assert task is not None and task.priority == 90
    assert task.attributes["required_skills"] == ["outages"]
    assert task.attributes["ticket_priority"] == "urgent"
    call = await db_session.scalar(select(Call).where(Call.sid == sid))
    assert call is not None and call.ivr_fields == {
        "priority": 90, "skills": ["outages"], "ticket_priority": "urgent"}

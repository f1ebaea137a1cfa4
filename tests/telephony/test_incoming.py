"""A call's first minute: blocked numbers, the greeting, the menu and the way to a queue."""

from __future__ import annotations

from builders import make_user
from quart.testing import QuartClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from twilio_requests import call_sid, post_signed, voice_params

from callcenter.blocklist import service as blocklist
from callcenter.blocklist.models import BlockKind, BlocklistEntry
from callcenter.config import Settings
from callcenter.customers.models import Identity
from callcenter.routing import agents as routing
from callcenter.routing.models import Activity
from callcenter.telephony import service as calls
from callcenter.telephony.models import Outcome


async def _incoming(client: QuartClient, settings: Settings, sid: str, from_: str) -> str:
    response = await post_signed(
        client, settings, "/twilio/voice/incoming", voice_params(settings, sid=sid, from_=from_)
    )
    assert response.status_code == 200
    return await response.get_data(as_text=True)


async def _agent_available(db_session: AsyncSession) -> None:
    agent = await routing.agent_for_user(db_session, user=await make_user(db_session))
    await routing.set_activity(db_session, agent=agent, activity=Activity.available)
    await db_session.commit()


async def test_blocked_number_is_rejected_unanswered(
    client: QuartClient, settings: Settings, db_session: AsyncSession
):
    await blocklist.add(db_session, kind=BlockKind.exact, value="+14155550166", reason="abuse")
    await db_session.commit()
    sid = call_sid()
    twiml = await _incoming(client, settings, sid, "+1 (415) 555-0166")
    assert "<Reject" in twiml and 'reason="rejected"' in twiml
    assert "<Say" not in twiml, "a rejected call must not be answered"
    call = await calls.get_by_sid(db_session, sid=sid)
    assert call is not None and call.outcome == Outcome.blocked
    entry = await db_session.scalar(select(BlocklistEntry))
    await db_session.refresh(entry)
    assert entry is not None and entry.hit_count == 1
    assert await db_session.scalar(select(Identity)) is None, "no customer for a blocked caller"


async def test_expired_block_lets_the_caller_through(
    client: QuartClient, settings: Settings, db_session: AsyncSession
):
    import datetime as dt

    entry = await blocklist.add(db_session, kind=BlockKind.exact, value="+14155550166")
    entry.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    await db_session.commit()
    assert "<Reject" not in await _incoming(client, settings, call_sid(), "+14155550166")


async def test_prefix_and_anonymous_blocks(
    client: QuartClient, settings: Settings, db_session: AsyncSession
):
    await blocklist.add(db_session, kind=BlockKind.prefix, value="+1900")
    await blocklist.add(db_session, kind=BlockKind.anonymous)
    await db_session.commit()
    assert "<Reject" in await _incoming(client, settings, call_sid(), "+19005550100")
    assert "<Reject" in await _incoming(client, settings, call_sid(), "anonymous")
    assert "<Reject" not in await _incoming(client, settings, call_sid(), "+14155550100")
    # A caller id that is not a phone number is not a withheld one.
    assert "<Reject" not in await _incoming(client, settings, call_sid(), "client:alice")


async def test_caller_hears_greeting_and_menu_and_becomes_a_customer(
    client: QuartClient, settings: Settings, db_session: AsyncSession
):
    await _agent_available(db_session)
    sid = call_sid()
    twiml = await _incoming(client, settings, sid, "+14155550100")
    assert "Thank you for calling Example Support" in twiml
    assert "<Gather" in twiml and "press 1" in twiml
    assert "/twilio/voice/ivr?node=main_menu&amp;attempt=1" in twiml
    identity = await db_session.scalar(select(Identity))
    assert identity is not None and identity.value == "+14155550100"
    call = await calls.get_by_sid(db_session, sid=sid)
    assert call is not None and call.customer_id == identity.customer_id


async def _menu(client, settings, sid: str, attempt: int = 1, **said: str) -> str:
    response = await post_signed(
        client,
        settings,
        f"/twilio/voice/ivr?node=main_menu&attempt={attempt}",
        voice_params(settings, sid=sid, status="in-progress", **said),
    )
    assert response.status_code == 200
    return await response.get_data(as_text=True)


async def test_pressing_a_key_enqueues_in_the_chosen_queue(
    client: QuartClient, settings: Settings, db_session: AsyncSession
):
    await _agent_available(db_session)
    sid = call_sid()
    await _incoming(client, settings, sid, "+14155550100")
    twiml = await _menu(client, settings, sid, Digits="9")
    assert ">urgent</Enqueue>" in twiml
    assert "queue/wait?node=urgent" in twiml


async def test_saying_a_word_enqueues_too(
    client: QuartClient, settings: Settings, db_session: AsyncSession
):
    await _agent_available(db_session)
    sid = call_sid()
    await _incoming(client, settings, sid, "+14155550100")
    twiml = await _menu(client, settings, sid, SpeechResult="Billing please", Confidence="0.9")
    assert ">billing</Enqueue>" in twiml


async def test_wrong_key_is_explained_and_the_menu_repeats(
    client: QuartClient, settings: Settings, db_session: AsyncSession
):
    await _agent_available(db_session)
    twiml = await _menu(client, settings, call_sid(), Digits="7")
    assert "not one of the choices" in twiml
    assert "attempt=2" in twiml and "<Gather" in twiml


async def test_silence_after_the_last_attempt_goes_to_support(
    client: QuartClient, settings: Settings, db_session: AsyncSession
):
    await _agent_available(db_session)
    twiml = await _menu(client, settings, call_sid(), attempt=3)
    assert ">support</Enqueue>" in twiml


async def test_nobody_signed_in_sends_caller_to_voicemail(
    client: QuartClient, settings: Settings, db_session: AsyncSession
):
    sid = call_sid()
    await _incoming(client, settings, sid, "+14155550100")
    twiml = await _menu(client, settings, sid, Digits="2")
    assert "<Enqueue" not in twiml
    assert "<Record" in twiml and "after the tone" in twiml

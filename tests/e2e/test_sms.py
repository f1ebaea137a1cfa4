"""SMS both ways through the emulator: a text lands on the customer's ticket, the agent's
reply goes out through Twilio's REST API with its delivery shown on the entry, STOP is
honoured (Twilio answers it; our replies are refused until START), a blocked number's
texts are counted and never ticketed, and a retried webhook is one entry."""

from __future__ import annotations

import pytest
from builders import DEFAULT_PASSWORD, make_token, make_user
from playwright.async_api import Page, expect
from quart import Quart
from quart.testing import QuartClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from twilio_requests import post_signed
from web import test_browser

from callcenter.accounts.models import Role
from callcenter.blocklist.models import BlockKind, BlocklistEntry
from callcenter.channels.sms.models import SmsOptOut
from callcenter.config import Settings
from callcenter.tickets.models import Ticket, TicketEvent, TicketEventKind
from e2e.conftest import Centre
from e2e.test_routing import eventually
from twilio_emulator import Emulator

TEXT_NUMBER = "+15005550010"
CUSTOMER = "+14155550142"
pytestmark = pytest.mark.settings(twilio_phone_number=TEXT_NUMBER)
browser = test_browser.browser
page = test_browser.page


@pytest.fixture
async def texting(centre: Centre) -> Centre:
    await centre.control.provision_number(
        TEXT_NUMBER, sms_url=f"{centre.app_url}/twilio/sms/incoming"
    )
    return centre


async def _events(session: AsyncSession) -> list[TicketEvent]:
    await session.rollback()
    return list(await session.scalars(
        select(TicketEvent).where(TicketEvent.kind == TicketEventKind.sms)
        .order_by(TicketEvent.id).execution_options(populate_existing=True)
    ))


async def _agent(session: AsyncSession) -> dict[str, str]:
    token = await make_token(session, user=await make_user(session, role=Role.agent))
    await session.commit()
    return {"Authorization": f"Bearer {token}"}


def _ours(emulator: Emulator, *, to: str) -> list[str]:
    """What our number sent them, through REST or as Twilio's own keyword answers."""
    return [m.body for m in emulator.engine.messages.by_sid.values()
            if m.to == to and m.from_ == TEXT_NUMBER]


async def test_a_text_lands_on_a_ticket_and_the_agents_reply_is_delivered(
    texting: Centre, emulator: Emulator, client: QuartClient, db_session: AsyncSession
):
    await texting.control.send_sms(CUSTOMER, TEXT_NUMBER, "Is my order 88 on its way?")
    [event] = await _events(db_session)
    assert event.body == "Is my order 88 on its way?" and event.data["from"] == CUSTOMER
    ticket = await db_session.get(Ticket, event.ticket_id)
    assert ticket is not None and ticket.channel.value == "sms"
    assert _ours(emulator, to=CUSTOMER) == [], "we never answer in TwiML"

    answer = await client.post(f"/api/tickets/{event.ticket_id}/replies",
                               headers=await _agent(db_session),
                               json={"body": "Yes, it arrives tomorrow.", "channel": "sms"})
    assert answer.status_code == 201, await answer.get_data(as_text=True)

    async def delivered() -> TicketEvent | None:
        replies = [e for e in await _events(db_session) if e.data.get("outgoing")]
        return replies[0] if replies and replies[0].data["delivery"] == "delivered" else None

    reply = await eventually(delivered, what="the reply delivered, as Twilio reports")
    assert _ours(emulator, to=CUSTOMER) == ["Yes, it arrives tomorrow."]
    sid = reply.data["message_sid"]
    assert reply.external_id == sid and emulator.engine.messages.by_sid[sid].status == "delivered"


async def test_stop_is_honoured_until_start(
    texting: Centre, emulator: Emulator, client: QuartClient, db_session: AsyncSession
):
    await texting.control.send_sms(CUSTOMER, TEXT_NUMBER, "where is my parcel")
    [first] = await _events(db_session)
    headers = await _agent(db_session)
    await texting.control.send_sms(CUSTOMER, TEXT_NUMBER, "Stop")
    assert await db_session.scalar(select(SmsOptOut.number)) == CUSTOMER
    assert "unsubscribed" in _ours(emulator, to=CUSTOMER)[-1], "Twilio's own answer"
    events = await _events(db_session)
    assert events[-1].data["keyword"] == "STOP" and events[-1].ticket_id == first.ticket_id

    refused = await client.post(f"/api/tickets/{first.ticket_id}/replies", headers=headers,
                                json={"body": "Hello?", "channel": "sms"})
    assert refused.status_code == 422
    assert "STOP" in (await refused.get_json())["error"]["message"]

    await texting.control.send_sms(CUSTOMER, TEXT_NUMBER, "START")
    assert await db_session.scalar(select(SmsOptOut.number)) is None
    again = await client.post(f"/api/tickets/{first.ticket_id}/replies", headers=headers,
                              json={"body": "Welcome back.", "channel": "sms"})
    assert again.status_code == 201

    async def sent() -> bool:
        return "Welcome back." in _ours(emulator, to=CUSTOMER)

    await eventually(sent, what="the text after START")


async def test_a_blocked_numbers_texts_are_counted_and_never_ticketed(
    texting: Centre, emulator: Emulator, db_session: AsyncSession
):
    entry = BlocklistEntry(kind=BlockKind.exact, value=CUSTOMER, reason="abuse")
    db_session.add(entry)
    await db_session.commit()
    await texting.control.send_sms(CUSTOMER, TEXT_NUMBER, "you will regret this")
    await texting.control.send_sms(CUSTOMER, TEXT_NUMBER, "and this")
    assert await _events(db_session) == []
    assert await db_session.scalar(select(Ticket.id)) is None
    await db_session.refresh(entry)
    assert entry.hit_count == 2
    assert _ours(emulator, to=CUSTOMER) == [], "no reply"


async def test_a_retried_webhook_is_one_entry_and_a_forged_one_is_refused(
    app: Quart, client: QuartClient, settings: Settings, db_session: AsyncSession
):
    params = {
        "MessageSid": "SM" + "5" * 32, "AccountSid": settings.twilio_account_sid or "",
        "From": "(415) 555-0142", "To": TEXT_NUMBER, "Body": "hello", "NumMedia": "1",
        "MediaUrl0": "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME1",
        "MediaContentType0": "image/jpeg",
    }
    for _ in range(2):
        answer = await post_signed(client, settings, "/twilio/sms/incoming", params)
        assert answer.status_code == 200
        assert (await answer.get_data(as_text=True)).endswith("<Response />")
    [event] = await _events(db_session)
    assert event.data["from"] == CUSTOMER, "read as E.164 from the way it came"
    assert event.data["media"] == [{"url": params["MediaUrl0"], "content_type": "image/jpeg"}]

    forged = await post_signed(client, settings, "/twilio/sms/incoming", params,
                               signature="forged")
    assert forged.status_code == 403
    malformed = await post_signed(client, settings, "/twilio/sms/incoming",
                                  {**params, "MessageSid": "nope"})
    assert malformed.status_code == 400


@pytest.mark.backends("sqlite")  # the browser adds nothing per backend
async def test_an_agent_answers_a_text_from_the_ticket_page(
    texting: Centre, emulator: Emulator, page: Page, db_session: AsyncSession
):
    await texting.control.send_sms(CUSTOMER, TEXT_NUMBER, "Can I change my delivery address?")
    [event] = await _events(db_session)
    agent = await make_user(db_session, role=Role.agent)
    await db_session.commit()
    await page.goto(f"{texting.app_url}/login?next=/tickets/{event.ticket_id}")
    await test_browser.sign_in(page, agent.email, DEFAULT_PASSWORD)
    timeline = page.get_by_role("list", name="Timeline")
    await expect(timeline).to_contain_text(f"From {CUSTOMER}")
    await expect(timeline).to_contain_text("Can I change my delivery address?")

    form = page.get_by_role("form", name="Reply by text")
    await form.get_by_label("Reply by text").fill("Yes: reply with the new address.")
    await form.get_by_role("button", name="Send text").click()
    await expect(timeline).to_contain_text("Yes: reply with the new address.")
    await expect(timeline).to_contain_text(f"To {CUSTOMER} · Delivered", timeout=15_000)
    assert _ours(emulator, to=CUSTOMER) == ["Yes: reply with the new address."]

"""One customer on four channels, one ticket: Dana phones (through the emulator), then
emails (real SMTP into the listener), then chats (the widget, in Chromium, on the shop's
own site), then texts (the emulator's Messaging). All four land on one ticket's timeline in
that order, shown on the ticket page in Chromium, and the agent answers the email, the chat
and the text from that page, each on its own channel: the reply reaches the relay with the
threading headers, the visitor's widget, and the emulator's messages."""

from __future__ import annotations

from email import message_from_bytes
from typing import Any

import pytest
from builders import DEFAULT_PASSWORD, make_agent
from channels.conftest import listener, relay
from channels.mailbox import SUPPORT, Relay, customer_mail, send
from channels.site import site, site_origin, site_port, start_chat, visitor_on
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from web import test_browser

from callcenter.accounts.models import User
from callcenter.channels.email.models import Mail, MailStatus
from callcenter.customers import service as customers
from callcenter.customers.models import Customer, IdentityKind
from callcenter.flows import email as email_flow
from callcenter.tickets.models import Ticket, TicketEvent, TicketEventKind
from e2e.conftest import Centre
from e2e.test_routing import eventually
from twilio_emulator import Emulator

browser = test_browser.browser
page = test_browser.page
pytestmark = pytest.mark.backends("sqlite")  # the browser adds nothing per backend
__all__ = ["listener", "relay", "site", "site_port"]  # fixtures

DANA = "+14155550177"
DANA_MAIL = "dana@example.com"
TEXT_NUMBER = "+15005550010"
CALL = [{"press": "2"}, {"until": "conference"}, {"wait": 2}]


@pytest.fixture
def settings_overrides(
    settings_overrides: dict[str, Any], relay: Relay, site_port: int
) -> dict[str, Any]:
    return {
        **settings_overrides, **site_origin(site_port), "support_address": SUPPORT,
        "smtp_listen_host": "127.0.0.1", "smtp_listen_port": 0, "smtp_host": "127.0.0.1",
        "smtp_port": relay.port, "twilio_phone_number": TEXT_NUMBER,
    }


async def _timeline(session: AsyncSession, ticket_id: int) -> list[TicketEvent]:
    await session.rollback()
    return list(await session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
        .execution_options(populate_existing=True)
    ))


async def test_a_call_an_email_a_chat_and_a_text_on_one_ticket_answered_from_its_page(
    centre: Centre, emulator: Emulator, listener: int, relay: Relay, browser: Browser,
    page: Page, site: str, app: Any, db_session: AsyncSession,
):
    await centre.control.provision_number(
        TEXT_NUMBER, sms_url=f"{centre.app_url}/twilio/sms/incoming")
    await centre.add_agent(talk_seconds=1, answer_delay=0.5)
    report = await centre.call(CALL, from_=DANA)
    call = await centre.settled(report["sid"])
    event = await centre.ticket_event(call)
    assert event is not None
    ticket_id = event.ticket_id
    # The agent on that call noted Dana's address on her customer record.
    ticket = await db_session.get(Ticket, ticket_id)
    assert ticket is not None
    dana = await db_session.get(Customer, ticket.requester_id)
    assert dana is not None
    dana.name = "Dana Scully"
    await customers.add_identity(db_session, customer=dana, kind=IdentityKind.email,
                                 value=DANA_MAIL, region="US")
    await db_session.commit()

    # 1 -> 2: she emails.
    await send(listener, customer_mail(From=f"Dana Scully <{DANA_MAIL}>",
                                       Subject="Following up on my call"), sender=DANA_MAIL)
    # 3: she chats on the shop's site, giving the same address.
    _context, visitor = await visitor_on(browser, site)
    form = visitor.get_by_role("form", name="Start a chat")
    await form.get_by_label("Your email (optional)").fill(DANA_MAIL)
    await start_chat(visitor, "Dana", "I also wrote to you by email")
    await expect(visitor.get_by_role("log", name="Messages")).to_contain_text(
        "I also wrote to you by email")
    # 4: she texts.
    await centre.control.send_sms(DANA, TEXT_NUMBER, "And here is a text, for good measure")

    async def all_four() -> list[TicketEventKind] | None:
        kinds = [e.kind for e in await _timeline(db_session, ticket_id)]
        return kinds if TicketEventKind.sms in kinds else None

    kinds = await eventually(all_four, what="the text on the same ticket")
    contacts = [k for k in kinds if k in (TicketEventKind.call, TicketEventKind.email,
                                          TicketEventKind.chat, TicketEventKind.sms)]
    assert contacts == [TicketEventKind.call, TicketEventKind.email, TicketEventKind.chat,
                        TicketEventKind.sms], "in the order she made them, on one ticket"

    agent = await make_agent(db_session)
    user = await db_session.get(User, agent.user_id)
    assert user is not None
    user.name = "Jo Agent"
    agent_email = user.email
    await db_session.commit()
    await page.goto(f"{centre.app_url}/login?next=/tickets/{ticket_id}")
    await test_browser.sign_in(page, agent_email, DEFAULT_PASSWORD)
    timeline = page.get_by_role("list", name="Timeline")
    for text in ("Inbound", "Following up on my call", "I also wrote to you by email",
                 "And here is a text, for good measure"):
        await expect(timeline).to_contain_text(text)

    # The email, answered by email.
    reply = page.get_by_role("form", name="Reply by email")
    await reply.get_by_label("Reply by email").fill("Your refund is on its way.")
    await reply.get_by_role("button", name="Send email").click()
    await expect(timeline).to_contain_text("Your refund is on its way.")
    await db_session.rollback()
    outgoing = await db_session.scalar(select(Mail).where(Mail.status == MailStatus.queued))
    assert outgoing is not None
    tel = app.extensions["callcenter"].telephony
    assert await email_flow.send_one(tel, mail_id=outgoing.id) == MailStatus.sent
    [(_sender, to, raw)] = relay.got
    sent = message_from_bytes(raw)
    assert to == [DANA_MAIL] and sent["In-Reply-To"] and f"[#{ticket_id}]" in sent["Subject"]

    # The chat, answered in the chat.
    chat = page.get_by_role("form", name="Reply in chat")
    await chat.get_by_label("Reply in chat").fill("I see both: one moment.")
    await chat.get_by_role("button", name="Send chat message").click()
    await expect(visitor.get_by_role("log", name="Messages")).to_contain_text(
        "I see both: one moment.")

    # The text, answered by text.
    text = page.get_by_role("form", name="Reply by text")
    await text.get_by_label("Reply by text").fill("Texting you back too.")
    await text.get_by_role("button", name="Send text").click()
    await expect(timeline).to_contain_text(f"To {DANA} · Delivered", timeout=15_000)
    assert [m.body for m in emulator.engine.messages.by_sid.values()
            if m.to == DANA and m.from_ == TEXT_NUMBER] == ["Texting you back too."]
    await page.screenshot(path="/tmp/shots/four-channels.png", full_page=True)

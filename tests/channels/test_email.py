"""Email both ways over real SMTP: mail sent with `smtplib` to the app's listener becomes
a ticket; the agent's reply reaches a relay (aiosmtpd) with the threading headers; the
customer's answer to that reply threads back onto the same ticket."""

from __future__ import annotations

import email
import smtplib
from email import policy

import pytest
from builders import make_token, make_user
from quart import Quart
from quart.testing import QuartClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.accounts.models import Role
from callcenter.channels.email.models import MailDirection, MailStatus
from callcenter.customers.models import Identity, IdentityKind
from callcenter.flows import email as email_flow
from callcenter.tickets.models import Ticket, TicketEventKind
from channels.mailbox import (
    SUPPORT,
    Relay,
    agent_headers,
    answered_by_email,
    customer_mail,
    events_of,
    mails,
    send,
)


async def test_mail_to_the_listener_becomes_a_ticket_with_its_sender_as_customer(
    listener: int, db_session: AsyncSession
):
    await send(listener, customer_mail(), sender="ada@example.com")

    [stored] = await mails(db_session)
    assert (stored.direction, stored.status) == (MailDirection.incoming, MailStatus.landed)
    assert stored.envelope_to == [SUPPORT] and b"order 1234" in stored.raw
    ticket = await db_session.get(Ticket, stored.ticket_id)
    assert ticket is not None and ticket.subject == "My order never arrived"
    assert ticket.channel.value == "email"
    requester_id = ticket.requester_id
    [event] = await events_of(db_session, ticket.id)
    assert event.kind == TicketEventKind.email
    assert event.body == "Hello, my order 1234 never arrived. Can you help?"
    assert event.data["quoted"] == "-- \nAda", "the signature is folded away"
    identity = await db_session.scalar(
        select(Identity).where(Identity.kind == IdentityKind.email)
    )
    assert identity is not None and identity.value == "ada@example.com"
    assert identity.customer_id == requester_id


async def test_the_same_message_delivered_twice_lands_once(
    listener: int, db_session: AsyncSession
):
    message = customer_mail(Message_ID="<once@example.com>")
    await send(listener, message, sender="ada@example.com")
    await send(listener, message, sender="ada@example.com")

    first, second = await mails(db_session)
    assert first.ticket_id == second.ticket_id and first.event_id == second.event_id
    assert len(await events_of(db_session, first.ticket_id or 0)) == 1


async def test_mail_for_an_address_not_ours_is_refused_at_rcpt(listener: int):
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await send(listener, customer_mail(), sender="ada@example.com", to="ceo@elsewhere.test")
    assert refused.value.recipients["ceo@elsewhere.test"][0] == 550


async def test_the_agent_replies_by_email_and_the_customers_answer_threads_back(
    app: Quart, client: QuartClient, listener: int, relay: Relay, db_session: AsyncSession
):
    tel = app.extensions["callcenter"].telephony
    first = customer_mail(Message_ID="<first@example.com>")
    await send(listener, first, sender="ada@example.com")
    [incoming] = await mails(db_session)
    ticket_id = incoming.ticket_id
    assert ticket_id is not None

    answer = await client.post(
        f"/api/tickets/{ticket_id}/replies", headers=await agent_headers(db_session),
        json={"body": "Sorry about that! A new parcel is on its way.\n\nGrace"},
    )
    assert answer.status_code == 201, await answer.get_data(as_text=True)
    reply_event = await answer.get_json()
    assert reply_event["kind"] == "email" and reply_event["data"]["delivery"] == "queued"
    _, outgoing = await mails(db_session)
    assert outgoing.direction == MailDirection.outgoing and outgoing.status == MailStatus.queued

    # The worker's job, as it runs once the reply committed.
    assert await email_flow.send_one(tel, mail_id=outgoing.id) == MailStatus.sent
    [(sender, recipients, raw)] = relay.got
    assert (sender, recipients) == (SUPPORT, ["ada@example.com"])
    sent = email.message_from_bytes(raw, policy=policy.default)
    assert sent["In-Reply-To"] == "<first@example.com>"
    assert sent["References"] == "<first@example.com>"
    assert sent["Subject"] == f"Re: My order never arrived [#{ticket_id}]"
    assert sent["From"] == f"Grace Hopper <{SUPPORT}>"
    assert sent.get_body(("plain",)).get_content().startswith("Sorry about that!")
    assert sent.get_body(("html",)) is not None
    events = await events_of(db_session, ticket_id)
    assert events[-1].data["delivery"] == "sent"

    # The customer answers the reply: it threads onto the same ticket.
    again = customer_mail(Subject=f"Re: {sent['Subject']}", In_Reply_To=sent["Message-ID"],
                          References=f"<first@example.com> {sent['Message-ID']}")
    await send(listener, again, sender="ada@example.com")
    third = (await mails(db_session))[-1]
    assert third.status == MailStatus.landed and third.ticket_id == ticket_id
    assert [e.kind for e in await events_of(db_session, ticket_id)] == [
        TicketEventKind.email, TicketEventKind.email, TicketEventKind.email,
    ]


async def test_a_reply_without_threading_headers_threads_by_the_subject_token(
    listener: int, db_session: AsyncSession
):
    await send(listener, customer_mail(), sender="ada@example.com")
    [first] = await mails(db_session)
    answer = customer_mail(Subject=f"Re: My order never arrived [#{first.ticket_id}]")
    await send(listener, answer, sender="ada@example.com")
    # From someone else, the token alone does not put mail on Ada's ticket.
    stranger = customer_mail(From="mallory@evil.test",
                             Subject=f"Re: anything [#{first.ticket_id}]")
    await send(listener, stranger, sender="mallory@evil.test")

    _, threaded, other = await mails(db_session)
    assert threaded.ticket_id == first.ticket_id
    assert other.status == MailStatus.landed and other.ticket_id != first.ticket_id


async def test_a_relay_that_refuses_for_good_shows_the_failure_on_the_reply(
    app: Quart, client: QuartClient, listener: int, relay: Relay, db_session: AsyncSession
):
    incoming, outgoing = await answered_by_email(client, db_session, listener, body="On it.")
    relay.refuse = "554 5.7.1 Relaying denied"
    tel = app.extensions["callcenter"].telephony
    assert await email_flow.send_one(tel, mail_id=outgoing.id) == MailStatus.failed
    events = await events_of(db_session, incoming.ticket_id or 0)
    assert events[-1].data["delivery"] == "failed"
    assert "554" in events[-1].data["delivery_error"]


async def test_a_relay_that_is_down_is_tried_again_later(
    app: Quart, client: QuartClient, listener: int, relay: Relay, db_session: AsyncSession
):
    _, outgoing = await answered_by_email(client, db_session, listener, body="On it.")
    relay.refuse = "451 4.3.0 Try again later"
    tel = app.extensions["callcenter"].telephony
    assert await email_flow.send_one(tel, mail_id=outgoing.id) == MailStatus.queued
    _, outgoing = await mails(db_session)
    assert outgoing.next_attempt_at is not None and len(outgoing.attempts) == 1
    assert await email_flow.send_one(tel, mail_id=outgoing.id) is None, "not due yet"


async def test_a_reply_to_a_customer_with_no_address_is_refused(
    client: QuartClient, db_session: AsyncSession
):
    from callcenter.customers import service as customers
    from callcenter.tickets import service as tickets
    from callcenter.tickets.models import Channel

    customer = await customers.find_or_create_by_phone(db_session, phone="+14155550100")
    event = await tickets.add_contact(
        db_session, customer_id=customer.id, channel=Channel.phone, kind=TicketEventKind.call,
        subject="Call", body="",
    )
    await db_session.commit()
    answer = await client.post(
        f"/api/tickets/{event.ticket_id}/replies", headers=await agent_headers(db_session),
        json={"body": "Hello"},
    )
    assert answer.status_code == 422
    assert "no email address" in (await answer.get_json())["error"]["message"]


async def test_mail_to_a_groups_address_opens_its_ticket_and_the_reply_comes_from_it(
    app: Quart, client: QuartClient, listener: int, relay: Relay, db_session: AsyncSession
):
    admin = await make_token(db_session, user=await make_user(db_session, role=Role.admin))
    await db_session.commit()
    made = await client.post("/api/groups", headers={"Authorization": f"Bearer {admin}"},
                             json={"name": "Billing", "email": "Billing@Shop.test"})
    assert made.status_code == 201, await made.get_data(as_text=True)
    group = await made.get_json()
    assert group["email"] == "billing@shop.test"

    await send(listener, customer_mail(Subject="Invoice twice"), sender="ada@example.com",
               to="billing@shop.test")
    [incoming] = await mails(db_session)
    ticket = await db_session.get(Ticket, incoming.ticket_id)
    assert ticket is not None and ticket.group_id == group["id"]
    answer = await client.post(
        f"/api/tickets/{ticket.id}/replies", headers=await agent_headers(db_session),
        json={"body": "Refunded."},
    )
    assert answer.status_code == 201
    _, outgoing = await mails(db_session)
    tel = app.extensions["callcenter"].telephony
    assert await email_flow.send_one(tel, mail_id=outgoing.id) == MailStatus.sent
    assert relay.got[0][0] == "billing@shop.test"

    taken = await client.post("/api/groups", headers={"Authorization": f"Bearer {admin}"},
                              json={"name": "Accounts", "email": "billing@shop.test"})
    assert taken.status_code == 422 and "Billing" in (await taken.get_json())["error"]["message"]

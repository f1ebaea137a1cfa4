"""SMS through twilio-python: outbound Messages with status callbacks, the 1600-character
limit, From/MessagingServiceSid, and inbound SMS webhooks with a <Message> reply."""

from __future__ import annotations

import asyncio

import pytest
from twilio.base.exceptions import TwilioRestException

from .conftest import ACCOUNT, CALLER, NUMBER
from .target import twiml

SERVICE = "MG" + "c3" * 16



async def _callbacks(target, path, n):
    for _ in range(200):
        if len(target.at(path)) >= n:
            break
        await asyncio.sleep(0.02)
    return target.at(path)


async def test_outbound_message_status_callbacks(emu, twilio, target):
    target.on("/sms-status", "")
    msg = await twilio.messages.create_async(to=CALLER, from_=NUMBER, body="Your ticket is open",
                                             status_callback=target.url("/sms-status"))
    assert msg.status == "queued" and msg.direction == "outbound-api"
    assert msg.sid.startswith("SM") and msg.body == "Your ticket is open"
    hits = await _callbacks(target, "/sms-status", 2)
    # No callback for the initial status (Twilio: "not sent for the initial status").
    assert [h.params["MessageStatus"] for h in hits] == ["sent", "delivered"]
    assert all(h.valid and h.method == "POST" for h in hits)
    assert {h.params["MessageSid"] for h in hits} == {msg.sid}
    assert hits[0].params["From"] == NUMBER and hits[0].params["To"] == CALLER
    fetched = await twilio.messages(msg.sid).fetch_async()
    assert fetched.status == "delivered" and fetched.date_sent is not None


async def test_messaging_service_starts_accepted(emu, twilio, target):
    target.on("/sms-status", "")
    msg = await twilio.messages.create_async(to=CALLER, messaging_service_sid=SERVICE,
                                             body="hi", status_callback=target.url("/sms-status"))
    assert msg.status == "accepted" and msg.messaging_service_sid == SERVICE
    hits = await _callbacks(target, "/sms-status", 3)
    assert [h.params["MessageStatus"] for h in hits] == ["queued", "sent", "delivered"]
    assert hits[0].params["MessagingServiceSid"] == SERVICE


async def test_outbound_message_errors(emu, twilio):
    with pytest.raises(TwilioRestException) as err:
        await twilio.messages.create_async(to=CALLER, from_=NUMBER, body="x" * 1601)
    assert err.value.status == 400 and err.value.code == 21617
    ok = await twilio.messages.create_async(to=CALLER, from_=NUMBER, body="y" * 1600)
    assert ok.status == "queued" and len(ok.body) == 1600
    with pytest.raises(TwilioRestException) as err:
        await twilio.messages.create_async(to=CALLER, body="no sender")
    assert err.value.code == 21603
    with pytest.raises(TwilioRestException) as err:
        await twilio.messages.create_async(to=CALLER, from_=NUMBER)
    assert err.value.code == 21602


async def test_inbound_sms_webhook_and_reply(emu, twilio, target, client):
    target.on("/sms", lambda p: twiml(f"<Message>Got it: {p['Body']}</Message>"))
    await client.provision_number(NUMBER, sms_url=target.url("/sms"))
    sid = await client.send_sms(CALLER, NUMBER, "where is my order?")
    hit = target.at("/sms")[0]
    assert hit.valid and hit.method == "POST"
    assert hit.params["MessageSid"] == sid and hit.params["SmsSid"] == sid
    assert hit.params["From"] == CALLER and hit.params["To"] == NUMBER
    assert hit.params["Body"] == "where is my order?" and hit.params["NumMedia"] == "0"
    assert hit.params["AccountSid"] == ACCOUNT and hit.params["SmsStatus"] == "received"
    listed = await twilio.messages.list_async()
    inbound = next(m for m in listed if m.sid == sid)
    assert inbound.direction == "inbound" and inbound.status == "received"
    reply = next(m for m in listed if m.direction == "outbound-reply")
    assert reply.body == "Got it: where is my order?"
    assert reply.from_ == NUMBER and reply.to == CALLER
    only = await twilio.messages.list_async(to=CALLER)
    assert [m.sid for m in only] == [reply.sid]


async def test_inbound_sms_error_status_uses_fallback(emu, twilio, target, client):
    target.on("/sms", (500, "text/plain", "boom"))
    target.on("/sms-fallback", twiml('<Message><Body>fallback reply</Body></Message>'))
    await client.provision_number(NUMBER, sms_url=target.url("/sms"))
    number = (await twilio.incoming_phone_numbers.list_async(phone_number=NUMBER))[0]
    await twilio.incoming_phone_numbers(number.sid).update_async(
        sms_fallback_url=target.url("/sms-fallback"))
    await client.send_sms(CALLER, NUMBER, "hello")
    fb = target.at("/sms-fallback")[0].params
    assert fb["ErrorCode"] == "11217" and fb["ErrorUrl"] == target.url("/sms")
    assert any(e["code"] == 11217 for e in emu.log)
    replies = [m for m in await twilio.messages.list_async() if m.direction == "outbound-reply"]
    assert [m.body for m in replies] == ["fallback reply"]


async def test_inbound_sms_empty_response_sends_nothing(emu, twilio, target, client):
    target.on("/sms", twiml(""))
    await client.provision_number(NUMBER, sms_url=target.url("/sms"))
    await client.send_sms(CALLER, NUMBER, "ok thanks")
    assert [m.direction for m in await twilio.messages.list_async()] == ["inbound"]

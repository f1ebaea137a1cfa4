"""Texts from the Messaging webhook to the timeline, and agents' replies out through
Twilio's REST API.

In: the sender's number read as E.164, the text (and any MMS media URLs) landed through
`flows.contacts` once per MessageSid (a retried webhook is one event). A blocked number's
texts are counted on its entry and get no ticket and no reply. STOP, START and HELP are
Twilio's to answer (it sends the confirmations itself); we record the opt-out, so the
ticket page offers no text reply to a number that opted out, and the keyword goes on the
customer's ticket like any text.

Out: `reply` writes the reply on the timeline, and once that commits sends it through the
REST API (`POST Messages` with our status callback URL); the entry then shows Twilio's
MessageSid and each status Twilio reports (queued, sent, delivered, failed, undelivered).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from twilio.twiml.messaging_response import MessagingResponse

from callcenter import unit_of_work
from callcenter.channels.sms import service as sms
from callcenter.customers import phones
from callcenter.customers import service as customers
from callcenter.customers.models import IdentityKind
from callcenter.db import transaction
from callcenter.flows import Telephony, contacts
from callcenter.telephony.gateway import GatewayError
from callcenter.tickets import service as tickets
from callcenter.tickets.models import Channel, Ticket, TicketEvent, TicketEventKind

log = logging.getLogger("callcenter.flows.sms")

# The statuses Twilio reports for a text we sent, in the order they happen; the last three
# are ends. A callback that arrives late never moves an entry back.
DELIVERY = {"sending": 0, "accepted": 1, "queued": 2, "sent": 3, "delivered": 4, "read": 5,
            "undelivered": 6, "failed": 6, "canceled": 6}
MAX_MEDIA = 10


def _media(params: dict[str, str]) -> list[dict[str, str]]:
    try:
        count = min(int(params.get("NumMedia") or 0), MAX_MEDIA)
    except ValueError:
        count = 0
    return [
        {"url": params[f"MediaUrl{n}"], "content_type": params.get(f"MediaContentType{n}", "")}
        for n in range(count) if params.get(f"MediaUrl{n}")
    ]


async def incoming(
    session: AsyncSession, tel: Telephony, *, params: dict[str, str], region: str
) -> MessagingResponse:
    """A text to one of our numbers. We never answer in TwiML: replies are agents'."""
    answer = MessagingResponse()
    sender = phones.to_e164(params.get("From", ""), region=region)
    if sender is None:
        log.warning("channels.sms.unreadable_sender", extra={"message_sid": params["MessageSid"]})
        return answer
    body = params.get("Body", "")
    word = sms.keyword(body, params.get("OptOutType", ""))
    if word == sms.Keyword.stop:
        await sms.opt_out(session, number=sender, word=body)
    elif word == sms.Keyword.start:
        await sms.opt_in(session, number=sender)
    media = _media(params)
    data: dict[str, Any] = {"from": sender, "to": params.get("To", "")}
    if media:
        data["media"] = media
    if word is not None:
        data["keyword"] = str(word)
    landed = await contacts.land(session, contacts.Contact(
        channel=Channel.sms, kind=TicketEventKind.sms, identity=IdentityKind.phone,
        sender=sender, external_id=params["MessageSid"],
        subject=f"Text from {sender}", body=body[:5000], data=data,
    ))
    log.info("channels.sms.received", extra={
        "message_sid": params["MessageSid"], "blocked": landed.blocked is not None,
        "keyword": str(word) if word else None,
    })
    return answer


async def reply(
    session: AsyncSession, tel: Telephony, ticket: Ticket, *, author_id: int, body: str,
    region: str,
) -> TicketEvent:
    """The agent's text to the ticket's requester, sent once this commits."""
    numbers = await customers.phone_numbers(session, customer_id=ticket.requester_id)
    if not numbers:
        raise ValueError("The customer has no phone number to text.")
    if tel.caller_id is None:
        raise ValueError("No number of ours is set to text from (CALLCENTER_TWILIO_PHONE_NUMBER).")
    opted_out = await sms.opted_out(session, numbers=numbers)
    reachable = [number for number in numbers if number not in opted_out]
    if not reachable:
        raise ValueError("The customer replied STOP: texts to them are refused until they "
                         "text START.")
    to = reachable[0]
    event = await tickets.add_reply(
        session, ticket, author_id=author_id, kind=TicketEventKind.sms, body=body,
        data={"to": [to], "from": tel.caller_id, "delivery": "sending", "outgoing": True},
    )
    unit_of_work.after_commit(session, _send, tel, event.id, to, body)
    return event


async def _send(tel: Telephony, event_id: int, to: str, body: str) -> None:
    """After the commit: hand the text to Twilio; the entry keeps its MessageSid (so the
    status callbacks find it) or why Twilio refused it."""
    assert tel.caller_id is not None
    changes: dict[str, Any]
    try:
        sid = await tel.gateway.send_sms(
            to=to, from_=tel.caller_id, body=body, status_callback=tel.urls.sms_status()
        )
    except GatewayError as error:
        changes = {"delivery": "failed", "delivery_error": f"{error} ({error.code})"}
        sid = None
    else:
        changes = {"message_sid": sid, "delivery": "queued"}
    async with transaction(tel.sessionmaker) as session:
        await tickets.set_event_data(session, event_id=event_id, changes=changes)
        if sid is not None:
            await tickets.set_external_id(session, event_id=event_id, external_id=sid)


async def status(session: AsyncSession, *, params: dict[str, str]) -> None:
    """Twilio's word on a text we sent: shown on its entry."""
    event = await tickets.event_for_message(
        session, kind=TicketEventKind.sms, external_id=params["MessageSid"]
    )
    reported = params.get("MessageStatus") or params.get("SmsStatus") or ""
    if event is None or reported not in DELIVERY:
        return
    if DELIVERY[reported] < DELIVERY.get(str(event.data.get("delivery")), 0):
        return
    changes: dict[str, Any] = {"delivery": reported}
    if params.get("ErrorCode"):
        changes["delivery_error"] = f"Twilio error {params['ErrorCode']}"
    await tickets.set_event_data(session, event_id=event.id, changes=changes)

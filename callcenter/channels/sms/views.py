"""Twilio Messaging's webhooks: a text in (`/twilio/sms/incoming`, answered with
MessagingResponse TwiML) and what became of a text we sent (`/twilio/sms/status`), each
signed and checked like the voice webhooks."""

from __future__ import annotations

from quart import Blueprint
from quart_schema import hide
from twilio.twiml.messaging_response import MessagingResponse

from callcenter.flows import sms as sms_flow
from callcenter.http.context import db, settings, state
from callcenter.telephony.webhooks import message_status_webhook, messaging_webhook

bp = Blueprint("sms", __name__, url_prefix="/twilio/sms")


@bp.post("/incoming")
@hide
@messaging_webhook
async def incoming(params: dict[str, str]) -> MessagingResponse:
    return await sms_flow.incoming(
        db(), state().telephony, params=params, region=settings().phone_region
    )


@bp.post("/status")
@hide
@message_status_webhook
async def status(params: dict[str, str]) -> None:
    await sms_flow.status(db(), params=params)

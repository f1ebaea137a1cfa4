"""An agent's reply on the customer's channel, from the ticket page or the API
(`POST /api/tickets/<id>/replies`): by email (`flows.email`), by text (`flows.sms`) or in
the ticket's chat (`flows.chat`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from quart import Blueprint
from quart_schema import tag_blueprint, validate_request, validate_response

from callcenter import api
from callcenter.accounts.auth import current_user, require_role
from callcenter.accounts.models import Role
from callcenter.errors import refusing
from callcenter.flows import chat as chat_flow
from callcenter.flows import email as email_flow
from callcenter.flows import sms as sms_flow
from callcenter.http.context import db, settings, state
from callcenter.routing import agents
from callcenter.tickets import service as tickets
from callcenter.tickets.schemas import EventOut

bp = Blueprint("replies", __name__)
tag_blueprint(bp, ["tickets"])


class ReplyIn(BaseModel):
    body: api.LongText = Field(min_length=1, max_length=50_000)
    channel: Literal["email", "sms", "chat"] = "email"


@bp.post("/api/tickets/<int:ticket_id>/replies")
@require_role(Role.agent)
@validate_request(ReplyIn)
@validate_response(EventOut, 201)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
@validate_response(api.ErrorOut, 422)
async def reply(ticket_id: int, data: ReplyIn) -> tuple[EventOut, int]:
    """Answer the ticket's requester on a channel: `email` (threaded under the ticket's
    last message, sent through the relay by the worker) or `sms` (a text from our number,
    through Twilio) or `chat` (in the ticket's chat, seen by the visitor at once; a chat
    still waiting for an agent becomes yours). The reply is on the timeline at once; its
    entry shows whether it was delivered. 422 when the requester cannot be reached that way
    (no address, no number, they texted STOP, or the chat has ended)."""
    ticket = await api.found(
        lambda i: tickets.get_ticket(db(), ticket_id=i, lock=True), ticket_id, "ticket"
    )
    user = current_user()
    assert user is not None
    tel = state().telephony
    body = data.body.strip()
    with refusing(ValueError):
        if data.channel == "chat":
            agent = await agents.agent_for_user(db(), user=user)
            event = await chat_flow.reply(
                db(), ticket, author_id=user.id, agent_id=agent.id,
                body=body[:settings().chat_message_limit_chars],
            )
        elif data.channel == "sms":
            event = await sms_flow.reply(
                db(), tel, ticket, author_id=user.id, body=body[:1600],
                region=settings().phone_region,
            )
        else:
            assert tel.mailroom is not None
            event = await email_flow.reply(
                db(), tel.mailroom, ticket, author_id=user.id,
                author_name=user.name or user.email, body=body,
            )
    return EventOut.of(event), 201

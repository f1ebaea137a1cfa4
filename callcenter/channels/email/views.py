"""Email on the ticket page: an agent's reply by email (`POST /api/tickets/<id>/replies`),
and the files a message carried (`GET /mail/attachments/<id>`)."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import quote

from pydantic import BaseModel, Field
from quart import Blueprint, Response
from quart_schema import hide, tag_blueprint, validate_request, validate_response

from callcenter import api
from callcenter.accounts.auth import current_user, require_role
from callcenter.accounts.models import Role
from callcenter.channels.email import service as mail
from callcenter.errors import refusing
from callcenter.flows import email as email_flow
from callcenter.http.context import db, state
from callcenter.tickets import service as tickets
from callcenter.tickets.schemas import EventOut

bp = Blueprint("email", __name__)
tag_blueprint(bp, ["tickets"])


class ReplyIn(BaseModel):
    body: api.LongText = Field(min_length=1, max_length=50_000)
    channel: Literal["email"] = "email"


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
    """Answer the ticket's requester on their channel (email): the reply goes on the
    timeline at once and out through the relay from the worker, threaded under the
    ticket's last message; its entry shows whether it was delivered. 422 when the
    requester has no email address."""
    ticket = await api.found(
        lambda i: tickets.get_ticket(db(), ticket_id=i, lock=True), ticket_id, "ticket"
    )
    user = current_user()
    assert user is not None
    mailroom = state().telephony.mailroom
    assert mailroom is not None
    with refusing(ValueError):
        event = await email_flow.reply(
            db(), mailroom, ticket, author_id=user.id, author_name=user.name or user.email,
            body=data.body.strip(),
        )
    return EventOut.of(event), 201


@bp.get("/mail/attachments/<int:attachment_id>")
@hide
@require_role(Role.agent)
async def attachment(attachment_id: int) -> Response:
    """A file an email carried, as it came (downloaded, never shown inline: it is the
    sender's content)."""
    found = await api.found(
        lambda i: mail.get_attachment(db(), attachment_id=i), attachment_id, "attachment"
    )
    response = Response(found.content, content_type="application/octet-stream")
    response.headers["Content-Disposition"] = _download(found.filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _download(filename: str) -> str:
    """A Content-Disposition that saves the file under its name, whatever the name holds
    (RFC 6266: an ASCII fallback and the UTF-8 name)."""
    fallback = re.sub(r'[^A-Za-z0-9._ -]', "_", filename)[:100] or "attachment"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename[:200])}"

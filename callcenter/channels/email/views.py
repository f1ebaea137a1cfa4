"""The files an email carried, for the ticket page (`GET /mail/attachments/<id>`)."""

from __future__ import annotations

import re
from urllib.parse import quote

from quart import Blueprint, Response
from quart_schema import hide

from callcenter import api
from callcenter.accounts.auth import require_role
from callcenter.accounts.models import Role
from callcenter.channels.email import service as mail
from callcenter.http.context import db

bp = Blueprint("email", __name__)


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

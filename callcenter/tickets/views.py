"""The ticket page, `/tickets/<id>`: the ticket, its requester and its timeline.

The softphone links here from an offer's last five tickets and after a wrap-up; the ticket
workspace (replies, fields, time tracking) grows on this page.
"""

from __future__ import annotations

from quart import Blueprint, render_template
from quart_schema import hide

from callcenter.accounts import service as accounts
from callcenter.accounts.auth import require_role
from callcenter.accounts.models import Role
from callcenter.customers import service as customers
from callcenter.errors import APIError
from callcenter.http.context import db
from callcenter.tickets import service as tickets

bp = Blueprint("tickets", __name__)


@bp.get("/tickets/<int(max=2147483647):ticket_id>")
@hide
@require_role(Role.agent)
async def ticket_page(ticket_id: int) -> str:
    ticket = await tickets.get_ticket(db(), ticket_id=ticket_id)
    if ticket is None:
        raise APIError(404, "not_found", "There is no such ticket.")
    requester = await customers.get(db(), customer_id=ticket.requester_id)
    numbers = await customers.phone_numbers(db(), customer_id=ticket.requester_id)
    timeline = await tickets.timeline(db(), ticket_id=ticket.id)
    authors = await accounts.emails(
        db(), user_ids={event.author_id for event in timeline if event.author_id}
    )
    return await render_template(
        "tickets/ticket.html", ticket=ticket, requester=requester, numbers=numbers,
        timeline=timeline, authors=authors,
    )

"""The ticket page, `/tickets/<id>`: the ticket, its requester and its timeline.

The softphone links here from an offer's last five tickets and after a wrap-up; its Call
button calls the requester (click-to-call: the agent's softphone rings first). The ticket
workspace (replies, fields, time tracking) grows on this page.
"""

from __future__ import annotations

from quart import Blueprint, render_template
from quart_schema import hide, validate_response

from callcenter import api
from callcenter.accounts import service as accounts
from callcenter.accounts.auth import current_user, require_role
from callcenter.accounts.models import Role
from callcenter.customers import service as customers
from callcenter.errors import APIError
from callcenter.flows import click_to_call
from callcenter.http.context import db, release, state
from callcenter.routing import agents
from callcenter.tickets import service as tickets
from callcenter.tickets.schemas import CallOut

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


@bp.post("/api/tickets/<int(max=2147483647):ticket_id>/call")
@require_role(Role.agent)
@validate_response(CallOut, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
@validate_response(api.ErrorOut, 409)
async def call_requester(ticket_id: int) -> CallOut:
    """Call the ticket's requester: your softphone rings first, then their number is
    dialled, and the call lands on this ticket. 409 when you are not free (go Available),
    the requester has no number, or no number of ours is set to call from."""
    user = current_user()
    assert user is not None
    agent = await agents.agent_for_user(db(), user=user)
    await release()
    number = await click_to_call.call_requester(
        state().telephony, agent_id=agent.id, ticket_id=ticket_id
    )
    return CallOut(number=number, message=f"Your phone rings first, then {number}.")

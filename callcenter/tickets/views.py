"""The agent's ticket pages: `/tickets` (views with counts, search, a new ticket) and
`/tickets/<id>` (the timeline, a note, fields, macros, Last Five, the requester, merge).

Pages render on the server; their forms speak the JSON API (apiforms.js) and the page
re-reads its live regions in place. `/tickets/<id>/events` tells an open ticket page
when anyone changes the ticket, so it shows the change without a reload.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from quart import Blueprint, Response, render_template, request
from quart_schema import hide, validate_response
from sqlalchemy import select

from callcenter import api
from callcenter.accounts import service as accounts
from callcenter.accounts.auth import current_user, require_role
from callcenter.accounts.models import Role
from callcenter.blocklist import service as blocklist
from callcenter.channels.chat import service as chat
from callcenter.channels.sms import service as sms
from callcenter.customers import service as customers
from callcenter.db import transaction, utcnow
from callcenter.errors import APIError
from callcenter.events import Event
from callcenter.flows import click_to_call, search
from callcenter.http import streams
from callcenter.http.context import db, release, settings, state
from callcenter.routing import agents
from callcenter.tickets import lists, macros, sla, timing
from callcenter.tickets import service as tickets
from callcenter.tickets.models import Ticket, TicketPriority, TicketStatus
from callcenter.tickets.schemas import CallOut

bp = Blueprint("tickets", __name__)
PER_PAGE = 50


@bp.get("/tickets")
@hide
@require_role(Role.agent)
async def tickets_page() -> str:
    user = current_user()
    assert user is not None
    q = request.args.get("q", "").strip()[:200]
    try:
        chosen = lists.View(request.args.get("view", lists.View.mine.value))
    except ValueError:
        chosen = lists.View.mine
    page = max(1, min(api.MAX_PAGE, request.args.get("page", 1, type=int) or 1))
    offset, limit = api.page_bounds(page, PER_PAGE)
    found, total = await search.tickets_for(
        db(), text=q, filters=lists.Filters(view=None if q else chosen), user_id=user.id,
        region=settings().phone_region, offset=offset, limit=limit,
    )
    return await render_template(
        "tickets/tickets.html", found=found, total=total, q=q, chosen=chosen,
        heading=f"Search: {q}" if q else chosen.title,
        counts=await lists.counts(db(), user_id=user.id),
        names=await customers.labels(db(), customer_ids={t.requester_id for t in found}),
        next_page=api.next_page(page, PER_PAGE, total), now=utcnow(),
    )


@bp.get("/tickets/<int:ticket_id>")
@hide
@require_role(Role.agent)
async def ticket_page(ticket_id: int) -> str:
    ticket = await tickets.get_ticket(db(), ticket_id=ticket_id) if (
        ticket_id <= api.ROW_ID_MAX
    ) else None
    if ticket is None:
        raise APIError(404, "not_found", "There is no such ticket.")
    requester = await customers.get(db(), customer_id=ticket.requester_id)
    identities = await customers.identities(db(), customer_id=ticket.requester_id)
    timeline = await tickets.timeline(db(), ticket_id=ticket.id)
    time_entries = await timing.entries(db(), ticket_id=ticket.id)
    people = await accounts.emails(
        db(), user_ids={event.author_id for event in timeline if event.author_id}
        | {entry.user_id for entry in time_entries if entry.user_id}
    )
    now = utcnow()
    user = current_user()
    assert user is not None
    return await render_template(
        "tickets/ticket.html", ticket=ticket, requester=requester, identities=identities,
        numbers=[i.value for i in identities if i.kind.value == "phone"],
        timeline=timeline, people=people, now=now, targets=sla.targets(ticket, now=now),
        statuses=list(TicketStatus), priorities=list(TicketPriority),
        assignees=await accounts.active_users(db()), groups=await tickets.list_groups(db()),
        macros=await macros.offered(db()),
        time_entries=time_entries, time_total=sum(entry.seconds for entry in time_entries),
        timer=await timing.timer_state(db(), ticket_id=ticket.id, user_id=user.id, now=now),
        can_correct=user.role.includes(Role.supervisor),
        blocked=await blocklist.blocked_values(db(), values=[i.value for i in identities]),
        texts_refused=await sms.opted_out(
            db(), numbers=[i.value for i in identities if i.kind.value == "phone"]
        ),
        can_text=settings().twilio_phone_number is not None,
        chat=await chat.open_on_ticket(db(), ticket_id=ticket.id),
        chat_limit=settings().chat_message_limit_chars,
        last_five=await tickets.recent_for(db(), customer_id=ticket.requester_id,
                                           besides=ticket.id),
    )


@bp.get("/tickets/<int:ticket_id>/events")
@hide
@require_role(Role.agent)
async def ticket_events(ticket_id: int) -> Response:
    """`changed` with the ticket's version on connecting and whenever it changes; `typing`
    while the visitor of the ticket's chat types, and `chat` when the chat is assigned or
    ends."""
    app_state = state()

    async def version() -> bytes:
        async with transaction(app_state.sessionmaker) as session:
            updated = await session.scalar(select(Ticket.updated_at).where(Ticket.id == ticket_id))
        return streams.frame("changed", {"version": updated.isoformat() if updated else None})

    async def frames() -> AsyncIterator[bytes]:
        async with app_state.bus.subscribe("tickets.", "chat.") as events:
            yield await version()
            async for message in events:
                if not isinstance(message, Event):
                    yield await version()
                elif message.data.get("ticket_id") != ticket_id:
                    continue
                elif message.name == "chat.typing":
                    if message.data.get("who") == "visitor":
                        yield streams.frame("typing", {"on": bool(message.data.get("on"))})
                elif message.name in ("chat.assigned", "chat.closed"):
                    yield streams.frame("chat", {"status": message.name.rpartition(".")[2]})
                elif message.name.startswith("tickets."):
                    yield await version()

    return streams.stream(frames())


@bp.post("/api/tickets/<int:ticket_id>/call")
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
    if ticket_id > api.ROW_ID_MAX:
        raise APIError(404, "not_found", "There is no such ticket.")
    user = current_user()
    assert user is not None
    agent = await agents.agent_for_user(db(), user=user)
    await release()
    number = await click_to_call.call_requester(
        state().telephony, agent_id=agent.id, ticket_id=ticket_id
    )
    return CallOut(number=number, message=f"Your phone rings first, then {number}.")

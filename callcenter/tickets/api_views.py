"""The tickets API: list and search, open, change, note, move, merge, macros, Last Five.

Agents work tickets; every change lands on the ticket's timeline with who made it, and
runs the update triggers. Lists are sorted with the most urgent work on top.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from quart import Blueprint, url_for
from quart_schema import tag_blueprint, validate_querystring, validate_request, validate_response

from callcenter import api
from callcenter.accounts import service as accounts
from callcenter.accounts.auth import current_user, require_role
from callcenter.accounts.models import Role, User
from callcenter.channels.chat import service as chat
from callcenter.customers import service as customers
from callcenter.customers.models import IdentityKind
from callcenter.db import utcnow
from callcenter.errors import APIError
from callcenter.flows import search
from callcenter.http.context import db, settings
from callcenter.tickets import actions, lists, macros
from callcenter.tickets import service as tickets
from callcenter.tickets.models import Ticket
from callcenter.tickets.schemas import (
    AppliedOut,
    EventList,
    EventOut,
    LastFiveItem,
    LastFiveOut,
    MacroIn,
    MacroList,
    MacroOut,
    MergeIn,
    MoveIn,
    NoteIn,
    TicketIn,
    TicketOut,
    TicketPage,
    TicketPatch,
    TicketQuery,
    ViewCount,
    ViewCounts,
)

bp = Blueprint("tickets_api", __name__, url_prefix="/api")
tag_blueprint(bp, ["tickets"])
_ID = "<int:ticket_id>"


def _me() -> User:
    user = current_user()
    assert user is not None
    return user


@contextmanager
def refused(status: int = 422, code: str = "unprocessable") -> Iterator[None]:
    """A service's ValueError (what cannot be done, and why) as an API error."""
    try:
        yield
    except (actions.ActionError, tickets.TicketError, customers.IdentityError) as error:
        raise APIError(status, code, str(error)) from None


async def ticket_or_404(ticket_id: int, *, lock: bool = False) -> Ticket:
    ticket = None
    if ticket_id <= api.ROW_ID_MAX:
        ticket = await tickets.get_ticket(db(), ticket_id=ticket_id, lock=lock)
    if ticket is None:
        raise APIError(404, "not_found", "There is no such ticket.")
    return ticket


def _out(ticket: Ticket) -> TicketOut:
    return TicketOut.of(ticket, now=utcnow())


@bp.get("/tickets")
@require_role(Role.agent)
@validate_querystring(TicketQuery)
@validate_response(TicketPage, 200)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
async def list_tickets(query_args: TicketQuery) -> TicketPage:
    """Tickets, most urgent first (priority, then the SLA target due soonest, then the
    longest waiting); narrowed by a view, a customer, a channel, a status, and `q`."""
    offset, limit = api.page_bounds(query_args.page, query_args.per_page)
    filters = lists.Filters(
        view=query_args.view, customer_id=query_args.customer, channel=query_args.channel,
        status=query_args.status,
    )
    found, total = await search.tickets_for(
        db(), text=query_args.q, filters=filters, user_id=_me().id,
        region=settings().phone_region, offset=offset, limit=limit,
    )
    return TicketPage(
        items=[_out(ticket) for ticket in found], page=query_args.page,
        per_page=query_args.per_page, total=total,
        next_page=api.next_page(query_args.page, query_args.per_page, total),
    )


@bp.get("/tickets/views")
@require_role(Role.agent)
@validate_response(ViewCounts, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
async def view_counts() -> ViewCounts:
    """Each view with how many tickets it holds for you now."""
    counts = await lists.counts(db(), user_id=_me().id)
    return ViewCounts(items=[
        ViewCount(view=view, title=view.title, count=count) for view, count in counts.items()
    ])


@bp.post("/tickets")
@require_role(Role.agent)
@validate_request(TicketIn)
@validate_response(TicketOut, 201)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
@validate_response(api.ErrorOut, 422)
async def create_ticket(data: TicketIn) -> tuple[TicketOut, int]:
    """Open a ticket for a customer; triggers run on it (a "shop is down" one is urgent)."""
    region = settings().phone_region
    if data.requester_id is not None:
        requester = await customers.get(db(), customer_id=data.requester_id)
        if requester is None:
            raise APIError(404, "not_found", "There is no such customer.")
    elif data.requester:
        with refused():
            requester = await _customer_for(data.requester, region=region)
    else:
        raise APIError(422, "unprocessable", "Name the requester: requester_id or requester.")
    ticket = await tickets.create_ticket(
        db(), requester_id=requester.id, subject=data.subject, body=data.body,
        channel=data.channel, author_id=_me().id, tags=data.tags,
    )
    return _out(ticket), 201


async def _customer_for(text: str, *, region: str):
    """The customer a phone number or email address belongs to, made if we know none."""
    found = await customers.lookup(db(), text=text, region=region)
    if found is not None:
        return await customers.surviving(db(), customer_id=found.id)
    kind = customers.guess_kind(text)
    if kind == IdentityKind.phone:
        number = customers.normalise(kind, text, region=region)
        return await customers.find_or_create_by_phone(db(), phone=number)
    if kind == IdentityKind.email:
        customer = await customers.create_named(db(), name="")
        await customers.add_identity(db(), customer=customer, kind=kind, value=text, region=region)
        return customer
    raise customers.IdentityError(f"{text!r} is neither a phone number nor an email address")


@bp.get(f"/tickets/{_ID}")
@require_role(Role.agent)
@validate_response(TicketOut, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
async def get_ticket(ticket_id: int) -> TicketOut:
    """The ticket, its SLA targets (due, met, breached) included."""
    return _out(await ticket_or_404(ticket_id))


@bp.patch(f"/tickets/{_ID}")
@require_role(Role.agent)
@validate_request(TicketPatch)
@validate_response(TicketOut, 200)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
@validate_response(api.ErrorOut, 422)
async def change_ticket(ticket_id: int, data: TicketPatch) -> TicketOut:
    """Change fields; each change goes on the timeline (who, from, to) and the update
    triggers run. `assignee_id: null` or `group_id: null` clears it."""
    ticket = await ticket_or_404(ticket_id, lock=True)
    sent = data.model_fields_set
    if "assignee_id" in sent and data.assignee_id is not None:
        user = await accounts.get(db(), user_id=data.assignee_id)
        if user is None or not user.is_active:
            raise APIError(422, "unprocessable", "There is no such active user to assign.")
    group_unknown = data.group_id is not None and (
        await tickets.get_group(db(), group_id=data.group_id) is None
    )
    if group_unknown:
        raise APIError(422, "unprocessable", "There is no such group.")
    with refused():
        changes = actions.Changes(
            subject=data.subject, status=data.status, priority=data.priority,
            assignee_id=data.assignee_id, clear_assignee="assignee_id" in sent
            and data.assignee_id is None, group_id=data.group_id,
            clear_group="group_id" in sent and data.group_id is None,
            tags=actions.clean_tags(data.tags) if data.tags is not None else None,
        )
        await tickets.update(db(), ticket, changes, author_id=_me().id)
    return _out(ticket)


@bp.get(f"/tickets/{_ID}/events")
@require_role(Role.agent)
@validate_response(EventList, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
async def ticket_events(ticket_id: int) -> EventList:
    """The ticket's timeline, oldest first, whatever the channel."""
    ticket = await ticket_or_404(ticket_id)
    return EventList(items=[
        EventOut.of(event) for event in await tickets.timeline(db(), ticket_id=ticket.id)
    ])


@bp.post(f"/tickets/{_ID}/notes")
@require_role(Role.agent)
@validate_request(NoteIn)
@validate_response(EventOut, 201)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
async def add_note(ticket_id: int, data: NoteIn) -> tuple[EventOut, int]:
    """An internal note on the timeline (customers never see notes)."""
    ticket = await ticket_or_404(ticket_id, lock=True)
    event = tickets.add_note(db(), ticket, author_id=_me().id, body=data.body.strip())
    await tickets.update(db(), ticket, actions.Changes(), author_id=_me().id, text=data.body)
    await db().flush()
    return EventOut.of(event), 201


@bp.post(f"/tickets/{_ID}/events/<int:event_id>/move")
@require_role(Role.agent)
@validate_request(MoveIn)
@validate_response(EventOut, 200)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
@validate_response(api.ErrorOut, 409)
async def move_event(ticket_id: int, event_id: int, data: MoveIn) -> EventOut:
    """Move one entry (a call on the wrong ticket) to another ticket; both say so."""
    await ticket_or_404(ticket_id, lock=True)
    event = await tickets.get_event(db(), event_id=event_id) if event_id <= api.ROW_ID_MAX else None
    if event is None or event.ticket_id != ticket_id:
        raise APIError(404, "not_found", "There is no such entry on this ticket.")
    target = await ticket_or_404(data.ticket_id, lock=True)
    with refused(409, "conflict"):
        await tickets.move_event(db(), event=event, to=target, actor_id=_me().id)
    return EventOut.of(event)


@bp.post(f"/tickets/{_ID}/merge")
@require_role(Role.agent)
@validate_request(MergeIn)
@validate_response(TicketOut, 200)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
@validate_response(api.ErrorOut, 409)
async def merge_ticket(ticket_id: int, data: MergeIn) -> TicketOut:
    """Merge this ticket into `into_id`: every entry moves there, this one closes and
    points at it. Answers with the ticket that kept everything."""
    first, second = sorted((ticket_id, data.into_id))
    locked = {first: await ticket_or_404(first, lock=True)}
    locked[second] = await ticket_or_404(second, lock=True)
    with refused(409, "conflict"):
        await tickets.merge_tickets(
            db(), source=locked[ticket_id], target=locked[data.into_id], actor_id=_me().id
        )
    await chat.move_ticket(db(), from_id=ticket_id, to_id=data.into_id)
    return _out(locked[data.into_id])


@bp.get(f"/tickets/{_ID}/last-five")
@require_role(Role.agent)
@validate_response(LastFiveOut, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
async def last_five(ticket_id: int) -> LastFiveOut:
    """The requester's five most recently updated other tickets, every channel (merged
    customers' included)."""
    ticket = await ticket_or_404(ticket_id)
    recent = await tickets.recent_for(db(), customer_id=ticket.requester_id, besides=ticket.id)
    return LastFiveOut(items=[
        LastFiveItem(id=t.id, subject=t.subject, status=t.status, channel=t.channel,
                     updated_at=t.updated_at,
                     url=url_for("tickets.ticket_page", ticket_id=t.id))
        for t in recent
    ])


@bp.get("/macros")
@require_role(Role.agent)
@validate_response(MacroList, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
async def list_macros() -> MacroList:
    """The macros an agent may apply, by name."""
    return MacroList(items=[
        MacroOut(id=m.id, name=m.name, body=m.body, actions=m.actions)
        for m in await macros.offered(db())
    ])


@bp.post(f"/tickets/{_ID}/macros/<int:macro_id>")
@require_role(Role.agent)
@validate_response(AppliedOut, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
@validate_response(api.ErrorOut, 409)
async def apply_macro(ticket_id: int, macro_id: int) -> AppliedOut:
    """Apply a macro: its reply on the timeline, then its field changes."""
    ticket = await ticket_or_404(ticket_id, lock=True)
    macro = await macros.get(db(), macro_id=macro_id) if macro_id <= api.ROW_ID_MAX else None
    if macro is None or not macro.active:
        raise APIError(404, "not_found", "There is no such macro.")
    with refused(409, "macro_broken"):
        made = await macros.apply(db(), ticket=ticket, macro=macro, author_id=_me().id)
    return AppliedOut(ticket=_out(ticket), events=[EventOut.of(e) for e in made])


@bp.post("/macros")
@require_role(Role.admin)
@validate_request(MacroIn)
@validate_response(MacroOut, 201)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 409)
@validate_response(api.ErrorOut, 422)
async def add_macro(data: MacroIn) -> tuple[MacroOut, int]:
    """A new macro (its actions are checked first). Admins."""
    if await macros.named(db(), name=data.name.strip()) is not None:
        raise APIError(409, "taken", f"There is already a macro named {data.name.strip()!r}.")
    with refused():
        macro = await macros.create(db(), name=data.name, body=data.body, steps=data.steps())
    return MacroOut(id=macro.id, name=macro.name, body=macro.body, actions=macro.actions), 201

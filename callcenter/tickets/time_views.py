"""Time tracking's API: the ticket page's timer, the ticket's entries, manual time, and
supervisors' corrections (audited; the original entry is kept)."""

from __future__ import annotations

from quart import Blueprint
from quart_schema import tag_blueprint, validate_request, validate_response

from callcenter import api
from callcenter.accounts.auth import current_user, require_role
from callcenter.accounts.models import Role, User
from callcenter.db import utcnow
from callcenter.errors import APIError, refusing
from callcenter.http.context import db
from callcenter.tickets import service as tickets
from callcenter.tickets import timing
from callcenter.tickets.models import TimeEntry
from callcenter.tickets.schemas import (
    CorrectionIn,
    ManualTimeIn,
    TimeEntryOut,
    TimeOut,
    TimerIn,
    TimerOut,
)

bp = Blueprint("time_api", __name__, url_prefix="/api")
tag_blueprint(bp, ["time tracking"])
_ID = "<int:ticket_id>"


def _me() -> User:
    user = current_user()
    assert user is not None
    return user


async def _ticket_id(ticket_id: int) -> int:
    found = await tickets.get_ticket(db(), ticket_id=ticket_id) if (
        ticket_id <= api.ROW_ID_MAX
    ) else None
    if found is None:
        raise APIError(404, "not_found", "There is no such ticket.")
    return found.id



def entry_out(entry: TimeEntry) -> TimeEntryOut:
    return TimeEntryOut.model_validate(entry, from_attributes=True)


@bp.get(f"/tickets/{_ID}/time")
@require_role(Role.agent)
@validate_response(TimeOut, 200)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
async def ticket_time(ticket_id: int) -> TimeOut:
    """Every entry on the ticket (timer, calls, manual, corrections), the total, your timer."""
    ticket_id = await _ticket_id(ticket_id)
    state = await timing.timer_state(db(), ticket_id=ticket_id, user_id=_me().id, now=utcnow())
    found = await timing.entries(db(), ticket_id=ticket_id)
    return TimeOut(
        total_seconds=sum(entry.seconds for entry in found),
        entries=[entry_out(entry) for entry in found],
        timer=TimerOut(running=state.running, seconds=state.seconds),
    )


@bp.put(f"/tickets/{_ID}/timer")
@require_role(Role.agent)
@validate_request(TimerIn)
@validate_response(TimerOut, 200)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
async def set_timer(ticket_id: int, data: TimerIn) -> TimerOut:
    """Your timer on this ticket: start (resume), pause, reset, or a heartbeat while the
    page is open. Its time is recorded with your next update of the ticket."""
    ticket_id = await _ticket_id(ticket_id)
    action = {"start": timing.start, "pause": timing.pause, "reset": timing.reset,
              "heartbeat": timing.heartbeat}[data.action]
    state = await action(db(), ticket_id=ticket_id, user_id=_me().id, now=utcnow())
    return TimerOut(running=state.running, seconds=state.seconds)


@bp.post(f"/tickets/{_ID}/time")
@require_role(Role.agent)
@validate_request(ManualTimeIn)
@validate_response(TimeEntryOut, 201)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
@validate_response(api.ErrorOut, 422)
async def add_time(ticket_id: int, data: ManualTimeIn) -> tuple[TimeEntryOut, int]:
    """Time you spent on the ticket elsewhere (a call from your mobile, research)."""
    ticket_id = await _ticket_id(ticket_id)
    now = utcnow()
    with refusing(timing.TimeError):
        entry = await timing.add_manual(
            db(), ticket_id=ticket_id, user_id=_me().id, seconds=data.seconds, note=data.note,
            worked_at=data.worked_at or now, now=now,
        )
    return entry_out(entry), 201


@bp.post("/time-entries/<int:entry_id>/corrections")
@require_role(Role.supervisor)
@validate_request(CorrectionIn)
@validate_response(TimeEntryOut, 201)
@validate_response(api.ErrorOut, 400)
@validate_response(api.ErrorOut, 401)
@validate_response(api.ErrorOut, 403)
@validate_response(api.ErrorOut, 404)
@validate_response(api.ErrorOut, 422)
async def correct_entry(entry_id: int, data: CorrectionIn) -> tuple[TimeEntryOut, int]:
    """Make an entry count `seconds`, with a reason: the original stays, the difference is
    a correction entry, the change is in the audit log. Supervisors."""
    entry = await timing.get_entry(db(), entry_id=entry_id) if entry_id <= api.ROW_ID_MAX else None
    if entry is None:
        raise APIError(404, "not_found", "There is no such time entry.")
    with refusing(timing.TimeError):
        fix = await timing.correct(
            db(), entry=entry, seconds=data.seconds, reason=data.reason, actor_id=_me().id,
            now=utcnow(),
        )
    return entry_out(fix), 201

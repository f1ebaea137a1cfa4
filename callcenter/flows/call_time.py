"""A call's time on its ticket: each agent's ring, talk, hold and wrap-up seconds.

Zendesk's Time Tracking app and Zammad count only what an agent times by hand; here every
call feeds the ticket it landed on, per agent, by itself. Parts are recorded as soon as
they are known (talk when the call lands, wrap-up when the agent ends it), each once:
its key is the offer and the part, so a retried webhook or job adds nothing.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.routing import tasks
from callcenter.routing.models import Reservation
from callcenter.telephony.models import Call
from callcenter.tickets import service as tickets
from callcenter.tickets import timing


def _seconds(start: dt.datetime | None, end: dt.datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, round((end - start).total_seconds()))


def parts(reservation: Reservation) -> dict[str, tuple[int, dt.datetime]]:
    """What is known so far of one agent's time on the call: seconds, and when."""
    found: dict[str, tuple[int, dt.datetime]] = {}
    answered, ended = reservation.answered_at, reservation.ended_at
    ring = _seconds(reservation.created_at, answered)
    if ring is not None and answered is not None:
        found["ring"] = (ring, reservation.created_at)
    talk = _seconds(answered, ended)
    if talk is not None and answered is not None:
        hold = min(reservation.hold_seconds or 0, talk)
        found["talk"] = (talk - hold, answered)
        found["hold"] = (hold, answered)
    wrapup = _seconds(ended, reservation.wrapup_ended_at)
    if wrapup is not None and ended is not None:
        found["wrapup"] = (wrapup, ended)
    return found


async def record(session: AsyncSession, *, call: Call) -> None:
    """Put what is known of the call's time on its ticket (nothing before it has landed)."""
    landed = await tickets.event_for_call(session, call_id=call.id)
    if landed is None:
        return
    for reservation, user_id in await tasks.answered_offers(session, call_id=call.id):
        for part, (seconds, worked_at) in parts(reservation).items():
            await timing.add_call_part(
                session, ticket_id=landed.ticket_id, user_id=user_id, call_id=call.id,
                part=part, seconds=seconds, worked_at=worked_at,
                key=f"call:{reservation.id}:{part}",
            )

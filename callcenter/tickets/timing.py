"""Time tracking: the ticket page's timer, calls' seconds, manual entries, corrections.

The timer lives on the server (`TicketTimer`, one per agent and ticket), so two tabs,
a reload or a closed tab can neither lose nor double it: the page only says start,
pause, reset and "still here" (a heartbeat), and time counts between what the server
saw. A running timer counts up to its last heartbeat plus `GRACE`: a tab that vanishes
without a word stops the clock there, not hours later.

Each update an agent makes to the ticket records the timer's time since the last update
as a `timer` entry ("time spent this update"); the total is the sum of all entries.
Nothing is ever changed in place: a correction is an entry of the difference, with a
reason, pointing at the entry it corrects. Entries move with their ticket in a merge.
Every function takes `now`, so tests and the property test drive the clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy import update as sa_update
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.audit import service as audit
from callcenter.tickets.models import TicketTimer, TimeEntry, TimeSource
from callcenter.upsert import insert_ignoring_conflicts

# The page sends a heartbeat every 15 s while the timer runs in a tab in front.
GRACE = dt.timedelta(seconds=45)
MAX_MANUAL_SECONDS = 24 * 3600
CALL_PARTS = ("ring", "talk", "hold", "wrapup")


class TimeError(ValueError):
    """A time entry or correction that cannot be made, and why."""


@dataclass(frozen=True)
class TimerState:
    running: bool
    seconds: int  # on the timer now, not yet recorded by an update


def _elapsed(timer: TicketTimer, now: dt.datetime) -> int:
    if timer.running_since is None:
        return 0
    until = min(now, (timer.seen_at or timer.running_since) + GRACE)
    return max(0, int((until - timer.running_since).total_seconds()))


def state_of(timer: TicketTimer | None, now: dt.datetime) -> TimerState:
    if timer is None:
        return TimerState(running=False, seconds=0)
    return TimerState(
        running=timer.running_since is not None, seconds=timer.banked_seconds + _elapsed(timer, now)
    )


async def _timer(
    session: AsyncSession, *, ticket_id: int, user_id: int, create: bool = True
) -> TicketTimer | None:
    """The agent's timer on the ticket, its row held until commit (two tabs take turns)."""
    found = await session.scalar(
        select(TicketTimer)
        .where(TicketTimer.ticket_id == ticket_id, TicketTimer.user_id == user_id)
        .with_for_update()
    )
    if found is None and create:
        found = TicketTimer(ticket_id=ticket_id, user_id=user_id, banked_seconds=0)
        session.add(found)
        await session.flush()
    return found


def _bank(timer: TicketTimer, now: dt.datetime, *, keep_running: bool) -> None:
    """Fold the running stretch into the banked seconds; start a new stretch or stop."""
    timer.banked_seconds += _elapsed(timer, now)
    timer.running_since = now if keep_running else None
    timer.seen_at = now if keep_running else None


async def timer_state(
    session: AsyncSession, *, ticket_id: int, user_id: int, now: dt.datetime
) -> TimerState:
    found = await session.scalar(
        select(TicketTimer).where(TicketTimer.ticket_id == ticket_id,
                                  TicketTimer.user_id == user_id)
    )
    return state_of(found, now)


async def start(
    session: AsyncSession, *, ticket_id: int, user_id: int, now: dt.datetime
) -> TimerState:
    """Start or resume (a running timer stays as it is, but is seen)."""
    timer = await _timer(session, ticket_id=ticket_id, user_id=user_id)
    assert timer is not None
    if timer.running_since is None:
        timer.running_since = now
    elif timer.seen_at is not None and now > timer.seen_at + GRACE:
        # It had stopped counting at its last heartbeat: count on from now, not the gap.
        _bank(timer, now, keep_running=True)
    timer.seen_at = now
    await session.flush()
    return state_of(timer, now)


async def heartbeat(
    session: AsyncSession, *, ticket_id: int, user_id: int, now: dt.datetime
) -> TimerState:
    """The page is still open with the timer running: it goes on counting."""
    timer = await _timer(session, ticket_id=ticket_id, user_id=user_id, create=False)
    if timer is not None and timer.running_since is not None:
        if timer.seen_at is not None and now > timer.seen_at + GRACE:
            _bank(timer, now, keep_running=True)  # the gap is not counted
        timer.seen_at = now
        await session.flush()
    return state_of(timer, now)


async def pause(
    session: AsyncSession, *, ticket_id: int, user_id: int, now: dt.datetime
) -> TimerState:
    timer = await _timer(session, ticket_id=ticket_id, user_id=user_id, create=False)
    if timer is not None and timer.running_since is not None:
        _bank(timer, now, keep_running=False)
        await session.flush()
    return state_of(timer, now)


async def reset(
    session: AsyncSession, *, ticket_id: int, user_id: int, now: dt.datetime
) -> TimerState:
    """Throw away the time on the timer (not what updates already recorded)."""
    timer = await _timer(session, ticket_id=ticket_id, user_id=user_id, create=False)
    if timer is not None:
        running = timer.running_since is not None
        timer.banked_seconds = 0
        timer.running_since = now if running else None
        timer.seen_at = now if running else None
        await session.flush()
    return state_of(timer, now)


async def record_update(
    session: AsyncSession, *, ticket_id: int, user_id: int, now: dt.datetime
) -> TimeEntry | None:
    """The agent updated the ticket: the timer's time since their last update becomes an
    entry ("time spent this update"), and the timer goes on from zero."""
    timer = await _timer(session, ticket_id=ticket_id, user_id=user_id, create=False)
    if timer is None:
        return None
    spent = state_of(timer, now).seconds
    running = timer.running_since is not None
    timer.banked_seconds = 0
    timer.running_since = now if running else None
    timer.seen_at = now if running else None
    if spent <= 0:
        await session.flush()
        return None
    entry = TimeEntry(
        ticket_id=ticket_id, user_id=user_id, seconds=spent, source=TimeSource.timer,
        worked_at=now, note="time spent this update", created_by_id=user_id, created_at=now,
    )
    session.add(entry)
    await session.flush()
    return entry


async def add_manual(
    session: AsyncSession, *, ticket_id: int, user_id: int, seconds: int, note: str,
    worked_at: dt.datetime, now: dt.datetime,
) -> TimeEntry:
    """Work done elsewhere (a call from a mobile, research), entered by hand."""
    if not 0 < seconds <= MAX_MANUAL_SECONDS:
        raise TimeError("enter between one second and 24 hours")
    if worked_at > now + dt.timedelta(minutes=5):
        raise TimeError("time cannot be worked in the future")
    entry = TimeEntry(
        ticket_id=ticket_id, user_id=user_id, seconds=seconds, source=TimeSource.manual,
        worked_at=worked_at, note=note.strip()[:500], created_by_id=user_id, created_at=now,
    )
    session.add(entry)
    await session.flush()
    return entry


async def add_call_part(
    session: AsyncSession, *, ticket_id: int, user_id: int, call_id: int, part: str,
    seconds: int, worked_at: dt.datetime, key: str,
) -> None:
    """One part of a call for one agent, once: a retry (same `key`) adds nothing."""
    assert part in CALL_PARTS
    if seconds <= 0:
        return
    await session.execute(insert_ignoring_conflicts(
        session, TimeEntry, ticket_id=ticket_id, user_id=user_id, seconds=seconds,
        source=TimeSource.call, call_part=part, call_id=call_id, worked_at=worked_at,
        note=f"call: {part}", key=key, created_at=worked_at,
    ))


async def correct(
    session: AsyncSession, *, entry: TimeEntry, seconds: int, reason: str, actor_id: int,
    now: dt.datetime,
) -> TimeEntry:
    """Make `entry` count `seconds` (its corrections so far included), with a reason; the
    original is kept, the difference is a new entry, and the change is audited."""
    if entry.source == TimeSource.correction:
        raise TimeError("correct the original entry, not a correction")
    if not reason.strip():
        raise TimeError("say why the entry is corrected")
    if not 0 <= seconds <= MAX_MANUAL_SECONDS:
        raise TimeError("an entry counts between 0 seconds and 24 hours")
    current = entry.seconds + (await session.scalar(
        select(func.coalesce(func.sum(TimeEntry.seconds), 0))
        .where(TimeEntry.corrects_id == entry.id)
    ) or 0)
    if seconds == current:
        raise TimeError("the entry already counts that")
    fix = TimeEntry(
        ticket_id=entry.ticket_id, user_id=entry.user_id, seconds=seconds - current,
        source=TimeSource.correction, call_part=entry.call_part, call_id=entry.call_id,
        worked_at=entry.worked_at, note=reason.strip()[:500], corrects_id=entry.id,
        created_by_id=actor_id, created_at=now,
    )
    session.add(fix)
    await session.flush()
    await audit.record(
        session, action="time_entry.corrected", actor_id=actor_id,
        target=f"time_entry:{entry.id}",
        details={"ticket_id": entry.ticket_id, "from": current, "to": seconds,
                 "reason": reason.strip()[:500]},
    )
    return fix


async def entries(session: AsyncSession, *, ticket_id: int) -> list[TimeEntry]:
    return list(await session.scalars(
        select(TimeEntry).where(TimeEntry.ticket_id == ticket_id).order_by(TimeEntry.id)
    ))


async def get_entry(session: AsyncSession, *, entry_id: int) -> TimeEntry | None:
    return await session.get(TimeEntry, entry_id)


async def total(session: AsyncSession, *, ticket_id: int) -> int:
    return await session.scalar(
        select(func.coalesce(func.sum(TimeEntry.seconds), 0))
        .where(TimeEntry.ticket_id == ticket_id)
    ) or 0


async def move_to(
    session: AsyncSession, *, from_ticket: int, to_ticket: int, now: dt.datetime
) -> None:
    """A merge: every entry goes to the ticket that keeps everything, and time still on
    the merged ticket's timers is recorded there, so none is lost or counted twice."""
    timers = list(await session.scalars(
        select(TicketTimer).where(TicketTimer.ticket_id == from_ticket).with_for_update()
    ))
    for timer in timers:
        spent = state_of(timer, now).seconds
        if spent > 0:
            session.add(TimeEntry(
                ticket_id=from_ticket, user_id=timer.user_id, seconds=spent,
                source=TimeSource.timer, worked_at=now, created_by_id=timer.user_id,
                note=f"timer on #{from_ticket} when it was merged", created_at=now,
            ))
        await session.delete(timer)
    await session.flush()
    await session.execute(
        sa_update(TimeEntry).where(TimeEntry.ticket_id == from_ticket)
        .values(ticket_id=to_ticket)
    )


async def in_range(
    session: AsyncSession, *, since: dt.datetime, until: dt.datetime,
    user_ids: Sequence[int] = (),
) -> list[TimeEntry]:
    """Entries for work done in [since, until), for the report (by agent, ticket, day)."""
    query = select(TimeEntry).where(TimeEntry.worked_at >= since, TimeEntry.worked_at < until)
    if user_ids:
        query = query.where(TimeEntry.user_id.in_(user_ids))
    return list(await session.scalars(query.order_by(TimeEntry.worked_at, TimeEntry.id)))

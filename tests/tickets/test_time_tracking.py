"""Time tracking adds up exactly: timer, updates, resets, closed tabs, manual time,
corrections, merges and concurrent updates; calls feed it by themselves."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field

import pytest
from builders import make_agent, make_offer, make_user, waiting_call
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.audit.models import AuditEntry
from callcenter.customers import service as customers
from callcenter.db import create_engine, create_sessionmaker
from callcenter.flows import call_time
from callcenter.routing.models import ReservationStatus
from callcenter.tickets import service as tickets
from callcenter.tickets import timing
from callcenter.tickets.models import (
    Channel,
    TicketEventKind,
    TicketTimer,
    TimeEntry,
    TimeSource,
)

GRACE = int(timing.GRACE.total_seconds())
T0 = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)


async def _ticket(session: AsyncSession, subject: str = "Time") -> int:
    customer = await customers.find_or_create_by_phone(session, phone="+14155550100")
    return (await tickets.create_ticket(
        session, requester_id=customer.id, subject=subject, body=subject, channel=Channel.web,
        author_id=None,
    )).id


async def _sum(session: AsyncSession, *ticket_ids: int) -> int:
    return sum([await timing.total(session, ticket_id=t) for t in ticket_ids])


@dataclass
class Model:
    """What the totals must be, kept by plain arithmetic."""

    running: bool = False
    grace_left: int = GRACE
    timer: int = 0
    recorded: int = 0
    entries: dict[int, int] = field(default_factory=dict)  # entry id -> what it counts

    def passes(self, seconds: int) -> None:
        if self.running:
            counted = min(seconds, self.grace_left)
            self.timer += counted
            self.grace_left -= counted

    def seen(self) -> None:
        self.grace_left = GRACE


steps = st.one_of(
    st.tuples(st.just("tick"), st.integers(1, 40)),  # time passes, the page heartbeats
    st.tuples(st.just("vanish"), st.integers(1, 7200)),  # the tab is gone, not a word
    st.tuples(st.just("start"), st.just(0)),
    st.tuples(st.just("pause"), st.just(0)),
    st.tuples(st.just("reset"), st.just(0)),
    st.tuples(st.just("update"), st.just(0)),
    st.tuples(st.just("manual"), st.integers(1, 3600)),
    st.tuples(st.just("correct"), st.integers(0, 3600)),
    st.tuples(st.just("merge"), st.just(0)),
)


@hypothesis_settings(
    max_examples=40, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=st.lists(steps, max_size=25))
async def test_time_adds_up_exactly(db_session: AsyncSession, plan: list[tuple[str, int]]):
    agent = await make_user(db_session)
    supervisor = await make_user(db_session)
    first, second = await _ticket(db_session), await _ticket(db_session)
    ticket, now, model, merged = first, T0, Model(), False
    args = {"user_id": agent.id}
    for op, value in plan:
        if op in ("tick", "vanish"):
            now += dt.timedelta(seconds=value)
            model.passes(value)
            if op == "tick" and model.running:
                await timing.heartbeat(db_session, ticket_id=ticket, now=now, **args)
                model.seen()
        elif op == "start":
            await timing.start(db_session, ticket_id=ticket, now=now, **args)
            model.running = True
            model.seen()
        elif op == "pause":
            await timing.pause(db_session, ticket_id=ticket, now=now, **args)
            model.running = False
        elif op == "reset":
            await timing.reset(db_session, ticket_id=ticket, now=now, **args)
            model.timer = 0
            model.seen()
        elif op == "update":
            entry = await timing.record_update(db_session, ticket_id=ticket, now=now, **args)
            assert (entry.seconds if entry else 0) == model.timer  # time spent this update
            if entry:
                model.entries[entry.id] = entry.seconds
            model.recorded += model.timer
            model.timer = 0
            model.seen()
        elif op == "manual":
            entry = await timing.add_manual(db_session, ticket_id=ticket, seconds=value,
                                            note="elsewhere", worked_at=now, now=now, **args)
            model.entries[entry.id] = value
            model.recorded += value
        elif op == "correct" and model.entries:
            entry_id = max(model.entries)
            entry = await timing.get_entry(db_session, entry_id=entry_id)
            if value == model.entries[entry_id]:
                with pytest.raises(timing.TimeError):
                    await timing.correct(db_session, entry=entry, seconds=value, reason="r",
                                         actor_id=supervisor.id, now=now)
            else:
                await timing.correct(db_session, entry=entry, seconds=value, reason="typo",
                                     actor_id=supervisor.id, now=now)
                model.recorded += value - model.entries[entry_id]
                model.entries[entry_id] = value
        elif op == "merge" and not merged:
            source = await tickets.get_ticket(db_session, ticket_id=first)
            target = await tickets.get_ticket(db_session, ticket_id=second)
            await timing.move_to(db_session, from_ticket=source.id, to_ticket=target.id, now=now)
            merged, ticket = True, second
            model.recorded += model.timer  # the timer's time is recorded, not lost
            model.timer, model.running = 0, False
            found = await db_session.scalars(
                select(TimeEntry).where(TimeEntry.ticket_id == second,
                                        TimeEntry.note.like("timer on #%"))
            )
            model.entries.update({e.id: e.seconds for e in found})
        state = await timing.timer_state(db_session, ticket_id=ticket, now=now, **args)
        assert state.seconds == model.timer, (op, value)
        assert await _sum(db_session, first, second) == model.recorded, (op, value)
    if merged:
        assert await timing.total(db_session, ticket_id=first) == 0
    await db_session.rollback()


async def test_two_updates_at_once_record_the_time_once(database_url: str):
    engine = create_engine(database_url)
    sessions = create_sessionmaker(engine)
    try:
        async with sessions() as session:
            agent = await make_user(session)
            ticket = await _ticket(session)
            await timing.start(session, ticket_id=ticket, user_id=agent.id, now=T0)
            await session.commit()
        later = T0 + dt.timedelta(seconds=30)

        async def update() -> None:
            async with sessions() as session:
                await timing.record_update(session, ticket_id=ticket, user_id=agent.id, now=later)
                await session.commit()

        await asyncio.gather(update(), update())
        async with sessions() as session:
            assert await timing.total(session, ticket_id=ticket) == 30
    finally:
        await engine.dispose()


async def test_a_correction_keeps_the_original_and_is_audited(db_session: AsyncSession):
    agent, supervisor = await make_user(db_session), await make_user(db_session)
    ticket = await _ticket(db_session)
    entry = await timing.add_manual(db_session, ticket_id=ticket, user_id=agent.id, seconds=600,
                                    note="call from mobile", worked_at=T0, now=T0)
    fix = await timing.correct(db_session, entry=entry, seconds=420, reason="it was 7 minutes",
                               actor_id=supervisor.id, now=T0)
    assert entry.seconds == 600 and fix.seconds == -180 and fix.corrects_id == entry.id
    assert fix.source == TimeSource.correction
    assert await timing.total(db_session, ticket_id=ticket) == 420
    logged = await db_session.scalar(select(AuditEntry).where(
        AuditEntry.action == "time_entry.corrected"))
    assert logged.details == {"ticket_id": ticket, "from": 600, "to": 420,
                              "reason": "it was 7 minutes"}
    with pytest.raises(timing.TimeError, match="say why"):
        await timing.correct(db_session, entry=entry, seconds=1, reason=" ",
                             actor_id=supervisor.id, now=T0)


async def test_a_closed_tab_stops_the_clock_at_its_last_word(db_session: AsyncSession):
    agent = await make_user(db_session)
    ticket = await _ticket(db_session)
    await timing.start(db_session, ticket_id=ticket, user_id=agent.id, now=T0)
    await timing.heartbeat(db_session, ticket_id=ticket, user_id=agent.id,
                           now=T0 + dt.timedelta(seconds=15))
    # Closed without a word: hours later the timer holds 15 s plus the grace, no more.
    hours_later = T0 + dt.timedelta(hours=3)
    state = await timing.timer_state(db_session, ticket_id=ticket, user_id=agent.id,
                                     now=hours_later)
    assert state.seconds == 15 + GRACE
    # Opening the ticket again resumes from there, not from three hours.
    await timing.start(db_session, ticket_id=ticket, user_id=agent.id, now=hours_later)
    entry = await timing.record_update(db_session, ticket_id=ticket, user_id=agent.id,
                                       now=hours_later + dt.timedelta(seconds=10))
    assert entry is not None and entry.seconds == 15 + GRACE + 10
    timer = await db_session.get(TicketTimer, (ticket, agent.id))
    assert timer.banked_seconds == 0 and timer.running_since is not None


async def test_a_call_feeds_its_agents_time_once(db_session: AsyncSession):
    """Ring, talk, hold and wrap-up, per agent, on the ticket the call landed on."""
    call, task = await waiting_call(db_session)
    agent = await make_agent(db_session)
    offer = await make_offer(db_session, task=task, agent=agent)
    rang = offer.created_at
    offer.answered_at = rang + dt.timedelta(seconds=4)
    offer.ended_at = offer.answered_at + dt.timedelta(seconds=100)
    offer.hold_seconds = 20
    offer.status = ReservationStatus.completed
    call.customer_id = (await customers.find_or_create_by_phone(
        db_session, phone=call.from_number)).id
    event = await tickets.add_contact(
        db_session, customer_id=call.customer_id, channel=Channel.phone,
        kind=TicketEventKind.call, subject="Call", body="Inbound call", call_id=call.id,
    )
    for _ in range(2):  # a retried webhook lands nothing twice
        await call_time.record(db_session, call=call)
    parts = {e.call_part: e.seconds for e in await timing.entries(db_session,
                                                                  ticket_id=event.ticket_id)}
    assert parts == {"ring": 4, "talk": 80, "hold": 20}

    offer.wrapup_ended_at = offer.ended_at + dt.timedelta(seconds=35)
    await call_time.record(db_session, call=call)
    await call_time.record(db_session, call=call)
    found = await timing.entries(db_session, ticket_id=event.ticket_id)
    assert {e.call_part: e.seconds for e in found} == {"ring": 4, "talk": 80, "hold": 20,
                                                        "wrapup": 35}
    assert {e.user_id for e in found} == {agent.user_id}

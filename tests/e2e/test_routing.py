"""Routing through the emulator, as callers, agents and supervisors live it: which agent a
queue's strategy rings, skills and levels, priority, escalation, missed offers, wrap-up,
callbacks, voicemail from the queue, abandonment and overflow.

The emulator's clock is virtual (a caller's wait costs no real time) but the app's own
timers (a workflow step's timeout, a queue's maximum wait, the end of wrap-up, a callback's
retry) run on the wall clock. Tests of those set the timer's start into the past in the
store, with the emulator's clock held still meanwhile (`paused`), and let the next round of
the caller's wait loop, or the worker's job body, act on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import pytest
from builders import make_queue, make_token
from quart import Quart
from sqlalchemy import select, update

from callcenter.accounts.models import User
from callcenter.flows import escalation, offers
from callcenter.routing import agents as routing
from callcenter.routing import decisions, workflows
from callcenter.routing.models import (
    NEVER,
    Activity,
    Agent,
    QueueMember,
    ReservationStatus,
    RoutingState,
    Strategy,
    Task,
    TaskChannel,
    TaskStatus,
)
from callcenter.telephony.models import Call, Outcome
from callcenter.tickets.models import Ticket, TicketEventKind, TicketPriority
from e2e.conftest import Centre
from twilio_emulator import AgentPhone, Emulator

T = TypeVar("T")

CALLER = "+14155550100"
SUPPORT = [{"press": "2"}]
BILLING = [{"press": "1"}]
URGENT = [{"press": "9"}]


# --- helpers ------------------------------------------------------------------------------


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@contextlib.contextmanager
def paused(emulator: Emulator) -> Iterator[None]:
    """Hold the emulator's virtual clock still (as a request in flight does) while the test
    arranges the store: no caller's wait runs on meanwhile."""
    with emulator.engine.clock.busy():
        yield


async def eventually(
    check: Callable[[], Awaitable[T]], *, what: str, within: float = 20
) -> T:
    """Poll `check` until it returns something true; fail naming `what` if it never does."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.05)


def heard(report: dict[str, Any]) -> str:
    return " ".join(item.get("text", "") for item in report["heard"])


async def arrange(centre: Centre, model: Any, row_id: int, **values: Any) -> None:
    """Set columns of one row directly (only those: nothing else the app wrote is touched)."""
    await centre.db.execute(
        update(model).where(model.id == row_id).values(**values)
        .execution_options(synchronize_session=False)
    )
    await centre.db.commit()


async def queue(centre: Centre, name: str, **fields: Any) -> None:
    await make_queue(centre.db, name=name, **fields)
    await centre.db.commit()


async def waiting_task(centre: Centre, sid: str) -> Task:
    """The caller's task once they wait in line (pending)."""

    async def check() -> Task | None:
        await centre.db.commit()  # a fresh snapshot, nothing loaded expired
        call = await centre.db.scalar(select(Call).where(Call.sid == sid))
        if call is None:
            return None
        task = await centre.db.scalar(
            select(Task).where(Task.call_id == call.id, Task.channel == TaskChannel.voice)
            .execution_options(populate_existing=True)
        )
        return task if task is not None and task.status == TaskStatus.pending else None

    return await eventually(check, what=f"caller {sid} waiting in line")


async def wait_rounds(centre: Centre, sid: str, rounds: int) -> None:
    """Until the waiting caller has heard their place in line `rounds` times."""

    async def check() -> bool:
        report = await centre.control.get_call(sid)
        return heard(report).count("in line.") >= rounds

    await eventually(check, what=f"{rounds} rounds of the wait loop for {sid}")


async def in_state(centre: Centre, agent_id: int, state: RoutingState) -> Agent:
    async def check() -> Agent | None:
        agent = await centre.agent(agent_id)
        return agent if agent.routing_state == state else None

    return await eventually(check, what=f"agent {agent_id} {state}")


@dataclass(frozen=True)
class Staff:
    """An agent as the test knows them (ids outlive the session's snapshots) and their phone."""

    id: int
    user_id: int
    phone: AgentPhone


async def hire(centre: Centre, **kw: Any) -> Staff:
    """`centre.add_agent(**kw)`: a signed-in, available agent with a softphone bot."""
    agent = await centre.add_agent(**kw)
    return Staff(agent.id, agent.user_id, centre.phones[-1])


async def finished(centre: Centre, *sids: str) -> list[Call]:
    """The calls once all have settled, read in one snapshot (so all stay usable)."""
    for sid in sids:
        await centre.settled(sid)
    await centre.db.rollback()
    found = {
        call.sid: call
        for call in await centre.db.scalars(
            select(Call).where(Call.sid.in_(sids)).execution_options(populate_existing=True)
        )
    }
    return [found[sid] for sid in sids]


async def wrapping_up(centre: Centre, who: Staff) -> None:
    """The agent is still wrapping up an earlier call (for the next hour): they staff the
    phones, so callers wait for them, but nobody is offered to them."""
    await arrange(
        centre, Agent, who.id, routing_state=RoutingState.wrap_up,
        wrapup_until=now() + dt.timedelta(hours=1),
    )


async def say_at_the_tone(emulator: Emulator, sid: str, text: str) -> None:
    """The caller speaks once a recording listens (a script's `say` would be spent on the
    first thing that listens: the Gather of the wait loop)."""
    engine = emulator.engine
    call = engine.calls[sid]

    async def tone() -> None:
        while call.listening != "record" and not call.done:
            await call.wait_change()

    await asyncio.wait_for(tone(), 60)
    if not call.done:
        await engine.speak(call, text)


def offered_from(phone: Any) -> list[str]:
    """The caller numbers an agent's phone showed, offer by offer."""
    return [offer["from"] for offer in phone.offers]


async def one_call(centre: Centre, script: list[dict[str, Any]] = SUPPORT, **kw: Any) -> tuple[
    Call, Task, list[int]
]:
    """A caller's whole call: the call and task as the app stored them, and the agents
    offered it (agent ids, in the order they were rung)."""
    report = await centre.call(script, **kw)
    call = await centre.settled(report["sid"])
    task, _ = await centre.task(call)
    offered = [r.agent_id for r in await centre.reservations(task.id)]
    await centre.db.refresh(call)
    await centre.db.refresh(task)
    return call, task, offered


# --- strategies ---------------------------------------------------------------------------


async def test_longest_idle_rings_the_agent_idle_longest(centre: Centre):
    agents = [await hire(centre, talk_seconds=10) for _ in range(3)]
    a, b, c = (agent.id for agent in agents)
    for agent_id, minutes in ((a, 1), (b, 10), (c, 5)):
        await arrange(centre, Agent, agent_id, idle_since=now() - dt.timedelta(minutes=minutes))

    call, task, offered = await one_call(centre)
    assert offered == [b]
    assert call.outcome == Outcome.answered and call.agent_user_id == agents[1].user_id
    assert task.status == TaskStatus.completed and task.reason == "answered"
    assert [bool(who.phone.offers) for who in agents] == [False, True, False]


async def test_round_robin_takes_turns_from_whoever_was_offered_longest_ago(centre: Centre):
    await queue(centre, "support", strategy=Strategy.round_robin)
    agents = [await hire(centre, talk_seconds=30) for _ in range(3)]
    a, b, c = (agent.id for agent in agents)
    support_id = (await make_queue(centre.db, name="support")).id
    # Longest idle would pick a; round robin goes by the queue's last offer to each.
    await arrange(centre, Agent, a, idle_since=now() - dt.timedelta(hours=1))
    for agent_id, offered_at in ((a, now() - dt.timedelta(minutes=1)), (b, NEVER),
                                 (c, now() - dt.timedelta(minutes=2))):
        await centre.db.execute(
            update(QueueMember)
            .where(QueueMember.queue_id == support_id, QueueMember.agent_id == agent_id)
            .values(last_offered_at=offered_at)
        )
    await centre.db.commit()

    reports = await asyncio.gather(
        *(centre.call(SUPPORT, from_=f"+1415555020{i}") for i in range(3))
    )
    offers = []
    for report in reports:
        call = await centre.settled(report["sid"])
        assert call.outcome == Outcome.answered
        task, _ = await centre.task(call)
        offers += [(r.id, r.agent_id) for r in await centre.reservations(task.id)]
    assert [agent_id for _id, agent_id in sorted(offers)] == [b, c, a]
    assert all(len(phone.connected) == 1 for phone in centre.phones), "one call each"


async def test_fewest_calls_counts_only_todays_calls(centre: Centre):
    await queue(centre, "support", strategy=Strategy.fewest_calls)
    agents = [await hire(centre, talk_seconds=10) for _ in range(3)]
    a, b, c = (agent.id for agent in agents)
    today = now().date()
    await arrange(centre, Agent, a, stats_day=today, calls_today=5,
                  idle_since=now() - dt.timedelta(hours=1))
    await arrange(centre, Agent, b, stats_day=today, calls_today=2)
    # Nine calls, but yesterday: none today.
    await arrange(centre, Agent, c, stats_day=today - dt.timedelta(days=1), calls_today=9)

    call, _task, offered = await one_call(centre)
    assert offered == [c]
    assert call.agent_user_id == agents[2].user_id
    chosen = await centre.agent(c)
    assert (chosen.stats_day, chosen.calls_today) == (today, 1), "today's count starts over"
    assert (await centre.agent(b)).calls_today == 2


async def test_least_talk_time_rings_who_talked_least_today(centre: Centre):
    await queue(centre, "support", strategy=Strategy.least_talk_time)
    agents = [await hire(centre, talk_seconds=25) for _ in range(3)]
    a, b, c = (agent.id for agent in agents)
    today = now().date()
    for agent_id, talked, idle in ((a, 600, 60), (b, 100, 0), (c, 300, 30)):
        await arrange(
            centre, Agent, agent_id, stats_day=today, talk_seconds_today=talked, calls_today=3,
            idle_since=now() - dt.timedelta(minutes=idle),
        )

    call, _task, offered = await one_call(centre)
    assert offered == [b]
    assert call.agent_user_id == agents[1].user_id
    talker = await centre.agent(b)
    assert 120 <= talker.talk_seconds_today <= 130 and talker.calls_today == 4


async def test_random_chooses_only_among_eligible_agents_and_each_of_them(centre: Centre):
    await queue(centre, "support", strategy=Strategy.random, expression='skills HAS "support"')
    first = await hire(centre, talk_seconds=60, skills={"support": 1})
    second = await hire(centre, talk_seconds=60, skills={"support": 2})
    outsider = await hire(centre, talk_seconds=60)  # no support skill
    eligible = {first.id, second.id}

    reports = await asyncio.gather(
        centre.call(SUPPORT), centre.call(SUPPORT, from_="+14155550101")
    )
    answered_by = set()
    for report in reports:
        call = await centre.settled(report["sid"])
        assert call.outcome == Outcome.answered
        answered_by.add(call.agent_user_id)
    assert answered_by == {first.user_id, second.user_id}
    assert outsider.phone.offers == [], "the agent without the skill is never rung"

    # The decision itself, many times over (each claim rolled back): every eligible agent
    # comes up, nobody else does.
    task_id = (await centre.task(await centre.settled(reports[0]["sid"])))[0].id
    chosen: set[int] = set()
    for _ in range(40):
        task = await centre.db.get(Task, task_id)
        support = await make_queue(centre.db, name="support")
        assert task is not None
        picked = await decisions.choose(centre.db, task=task, queue=support)
        await centre.db.rollback()
        assert len(picked) == 1
        chosen.update(picked)
        if chosen == eligible:
            break
    assert chosen == eligible and outsider.id not in chosen


async def test_ring_all_rings_everyone_and_the_first_to_answer_takes_the_call(centre: Centre):
    await queue(centre, "support", strategy=Strategy.ring_all)
    quick = await hire(centre, answer_delay=1, talk_seconds=20)
    slow = await hire(centre, answer_delay=8, talk_seconds=20)
    away = await hire(centre, mode="ignore")
    off = await hire(centre)
    await go(centre, off, Activity.offline)

    call, task, offered = await one_call(centre)
    assert sorted(offered) == sorted([quick.id, slow.id, away.id])
    assert call.agent_user_id == quick.user_id
    assert task.status == TaskStatus.completed and task.reason == "answered"
    by_agent = {r.agent_id: r.status for r in await centre.reservations(task.id)}
    assert by_agent == {
        quick.id: ReservationStatus.completed,
        slow.id: ReservationStatus.rescinded,
        away.id: ReservationStatus.rescinded,
    }
    assert all(len(who.phone.offers) == 1 for who in (quick, slow, away))
    assert off.phone.offers == []
    assert quick.phone.connected and not slow.phone.connected
    for loser in (slow.id, away.id):
        agent = await centre.agent(loser)
        assert agent.routing_state == RoutingState.idle
        assert agent.missed_offers == 0 and agent.activity == Activity.available
        assert all(reason != "missed" for _k, _s, reason in await centre.state_log(loser))


async def go(centre: Centre, who: Staff, activity: Activity, reason: str | None = None) -> None:
    """The agent chooses an activity (offline, a break), as from their page."""
    await routing.set_activity(
        centre.db, agent=await centre.agent(who.id), activity=activity, reason=reason
    )
    await centre.db.commit()


# --- skills, levels, priority -------------------------------------------------------------


async def test_a_queue_for_a_skill_rings_only_agents_who_have_it(centre: Centre):
    await queue(centre, "billing", expression='skills HAS "billing"')
    generalist = await hire(centre, talk_seconds=10)  # idle longest, but no billing
    biller = await hire(centre, talk_seconds=10, skills={"billing": 1})
    await arrange(centre, Agent, generalist.id, idle_since=now() - dt.timedelta(hours=1))

    call, task, offered = await one_call(centre, BILLING)
    assert (await centre.task(call))[1] == "billing"
    assert offered == [biller.id] and call.agent_user_id == biller.user_id
    assert generalist.phone.offers == []
    assert task.reason == "answered"


async def test_a_queue_for_a_skill_level_rings_only_agents_at_that_level(centre: Centre):
    await queue(centre, "billing", expression="skill_levels.billing >= 2")
    junior = await hire(centre, talk_seconds=10, skills={"billing": 1})
    senior = await hire(centre, talk_seconds=10, skills={"billing": 3})
    await arrange(centre, Agent, junior.id, idle_since=now() - dt.timedelta(hours=1))

    call, _task, offered = await one_call(centre, BILLING)
    assert offered == [senior.id] and call.agent_user_id == senior.user_id
    assert junior.phone.offers == []


async def test_urgent_caller_is_answered_before_a_normal_one_who_waited_longer(centre: Centre):
    """One agent on a call; a normal caller waits, then an urgent one (pressed 9). When the
    agent is free, the urgent caller goes first, and their ticket is urgent."""
    agent = await hire(centre, talk_seconds=40, answer_delay=1)
    first = await centre.dial(SUPPORT, from_="+14155550110")
    await in_state(centre, agent.id, RoutingState.on_call)
    normal = await centre.dial(SUPPORT, from_="+14155550111")
    normal_entered = (await waiting_task(centre, normal)).entered_at
    urgent = await centre.dial(URGENT, from_="+14155550119")
    assert (await waiting_task(centre, urgent)).entered_at > normal_entered

    for sid in (first, normal, urgent):
        await centre.control.wait_for_call(sid, timeout=60)
    assert offered_from(agent.phone) == ["+14155550110", "+14155550119", "+14155550111"]
    normal_call, urgent_call = await finished(centre, normal, urgent)
    assert normal_call.outcome == urgent_call.outcome == Outcome.answered
    (normal_task, normal_queue), (urgent_task, urgent_queue) = (
        await centre.task(normal_call), await centre.task(urgent_call)
    )
    assert (normal_queue, urgent_queue) == ("support", "urgent")
    assert urgent_task.priority == 100 and normal_task.priority == 0
    assert urgent_task.assigned_at < normal_task.assigned_at
    assert urgent_task.wait_seconds < normal_task.wait_seconds
    tickets = {}
    for call in (normal_call, urgent_call):
        event = await centre.ticket_event(call)
        assert event is not None
        ticket = await centre.db.get(Ticket, event.ticket_id, populate_existing=True)
        assert ticket is not None
        tickets[call.sid] = ticket.priority
    assert tickets == {normal: TicketPriority.normal, urgent: TicketPriority.urgent}


# --- escalation ---------------------------------------------------------------------------


async def test_an_escalation_step_that_times_out_widens_the_queue_to_the_next_step(
    centre: Centre, emulator: Emulator
):
    """Step 0 wants a level-3 agent (who is away); once its timeout passes the task moves
    to step 1, any support level, and the level-1 agent answers. The caller keeps their
    age (their place in line)."""
    support = await make_queue(centre.db, name="support")
    await workflows.set_workflow(
        centre.db, queue=support,
        steps=[
            {"queue": "support", "expression": "skill_levels.support >= 3", "timeout": 60},
            {"queue": "support", "expression": "skill_levels.support >= 1"},
        ],
    )
    await centre.db.commit()
    expert = await hire(centre, talk_seconds=10, skills={"support": 3})
    await go(centre, expert, Activity.on_break, "lunch")
    junior = await hire(centre, talk_seconds=10, skills={"support": 1})

    sid = await centre.dial(SUPPORT)
    task = await waiting_task(centre, sid)
    await wait_rounds(centre, sid, 2)
    with paused(emulator):
        assert junior.phone.offers == [], "step 0 is for level 3 only"
        await centre.db.refresh(task)
        assert task.step == 0 and task.status == TaskStatus.pending
        entered_at = task.entered_at
        await arrange(centre, Task, task.id, step_started_at=now() - dt.timedelta(seconds=61))

    report = await centre.control.wait_for_call(sid, timeout=60)
    call = await centre.settled(report["sid"])
    task, queue_name = await centre.task(call)
    assert call.outcome == Outcome.answered and call.agent_user_id == junior.user_id
    assert (task.step, queue_name, task.reason) == (1, "support", "answered")
    assert task.entered_at == entered_at
    assert [r.agent_id for r in await centre.reservations(task.id)] == [junior.id]
    assert expert.phone.offers == []


async def test_an_escalation_ending_in_voicemail_sends_the_caller_there(
    centre: Centre, emulator: Emulator, app: Quart
):
    """The worker's step timer (its job body, run here) moves a caller nobody took to the
    workflow's last step, voicemail; the caller hears the prompt at their next round."""
    support = await make_queue(centre.db, name="support")
    await workflows.set_workflow(
        centre.db, queue=support, steps=[{"queue": "support", "timeout": 30}, {"voicemail": True}]
    )
    await centre.db.commit()
    await wrapping_up(centre, await hire(centre))
    sid = await centre.dial(SUPPORT)
    message = asyncio.create_task(
        say_at_the_tone(emulator, sid, "Please call me about my invoice.")
    )
    task = await waiting_task(centre, sid)
    with paused(emulator):
        await arrange(centre, Task, task.id, step_started_at=now() - dt.timedelta(seconds=31))
        tel = app.extensions["callcenter"].telephony
        moved = await escalation.step_timed_out(tel, task_id=task.id, step=0)
    assert moved

    report = await centre.control.wait_for_call(sid, timeout=60)
    await message
    assert "leave your name" in heard(report) and report["recordings"]
    call = await centre.settled(sid)
    task, _ = await centre.task(call)
    assert call.outcome == Outcome.voicemail
    assert (task.status, task.reason, task.step) == (TaskStatus.canceled, "voicemail", 1)
    event = await centre.ticket_event(call)
    assert event is not None and event.kind == TicketEventKind.voicemail


# --- offers not taken ---------------------------------------------------------------------


@pytest.mark.settings(agent_ring_seconds=5)
async def test_a_rejected_and_an_unanswered_offer_go_to_the_next_agent(centre: Centre):
    rejecter = await hire(centre, mode="reject", answer_delay=1)
    absent = await hire(centre, mode="ignore")
    taker = await hire(centre, talk_seconds=20)
    for who, minutes in ((rejecter, 30), (absent, 20), (taker, 10)):
        await arrange(centre, Agent, who.id, idle_since=now() - dt.timedelta(minutes=minutes))

    call, task, offered = await one_call(centre)
    assert offered == [rejecter.id, absent.id, taker.id]
    assert call.outcome == Outcome.answered and call.agent_user_id == taker.user_id
    assert [r.status for r in await centre.reservations(task.id)] == [
        ReservationStatus.rejected, ReservationStatus.timeout, ReservationStatus.completed,
    ]
    # The caller waited through both: the reject at once, the ring for its full 5 s.
    assert task.wait_seconds is not None and task.wait_seconds >= 5
    for who in (rejecter, absent):
        agent = await centre.agent(who.id)
        assert (agent.routing_state, agent.activity) == (RoutingState.idle, Activity.available)
        assert agent.missed_offers == 1
        assert ("routing", "idle", "missed") in await centre.state_log(who.id)
        assert len(who.phone.offers) == 1 and not who.phone.connected


@pytest.mark.settings(agent_ring_seconds=5, missed_offers_limit=2)
async def test_an_agent_who_misses_offers_is_put_on_a_break_and_offered_no_more(centre: Centre):
    sleepy = await hire(centre, mode="ignore")
    taker = await hire(centre, talk_seconds=10)
    await arrange(centre, Agent, sleepy.id, idle_since=now() - dt.timedelta(hours=1))

    for turn in range(3):
        call, _task, offered = await one_call(centre, from_=f"+1415555030{turn}")
        assert call.outcome == Outcome.answered and call.agent_user_id == taker.user_id
        assert offered == ([sleepy.id, taker.id] if turn < 2 else [taker.id])

    assert len(sleepy.phone.offers) == 2, "rung twice, then left alone"
    agent = await centre.agent(sleepy.id)
    assert agent.activity == Activity.on_break and agent.break_reason == "missed offers"
    assert agent.routing_state == RoutingState.idle and agent.missed_offers == 2
    log = await centre.state_log(sleepy.id)
    assert log[-1] == ("activity", "break", "missed offers")
    assert log.count(("routing", "idle", "missed")) == 2
    assert (await centre.agent(taker.id)).activity == Activity.available


async def test_caller_hanging_up_while_the_agent_rings_frees_the_agent_unblamed(
    centre: Centre, emulator: Emulator
):
    agent = await hire(centre, mode="ignore")  # rings for the full 20 s
    sid = await centre.dial(SUPPORT)

    async def ringing() -> bool:
        return bool(agent.phone.offers)

    # The caller hangs up once the phone rings (not at a set time: under load the ring's
    # REST call can come after any virtual moment the script names).
    await eventually(ringing, what="the agent's phone ringing")
    with paused(emulator):
        await emulator.engine.remote_hangup(emulator.engine.calls[sid])
    report = await centre.control.wait_for_call(sid, timeout=60)
    assert report["queue_result"] == "hangup"
    call = await centre.settled(report["sid"])
    task, _ = await centre.task(call)
    assert call.outcome == Outcome.abandoned
    assert (task.status, task.reason) == (TaskStatus.canceled, "abandoned")
    assert task.wait_seconds is not None and task.wait_seconds < 20, "before the ring ran out"
    assert [r.status for r in await centre.reservations(task.id)] == [ReservationStatus.canceled]
    assert agent.phone.offers and not agent.phone.connected
    assert any(m["type"] == "canceled" for m in agent.phone.messages), "the phone stopped"
    freed = await centre.agent(agent.id)
    assert freed.routing_state == RoutingState.idle and freed.missed_offers == 0
    assert freed.activity == Activity.available
    event = await centre.ticket_event(call)
    assert event is not None and "abandoned" in event.body


# --- wrap-up ------------------------------------------------------------------------------


async def wrapup_after_first_call(centre: Centre) -> tuple[Staff, int, str]:
    """Support has 10 minutes of wrap-up; its one agent takes a call, so they are in wrap-up
    and a second caller waits. Returns the agent, the first call's task, the second sid."""
    await queue(centre, "support", wrapup_seconds=600)
    agent = await hire(centre, talk_seconds=20)
    call, first_task, _ = await one_call(centre)
    assert call.outcome == Outcome.answered
    assert first_task.status == TaskStatus.wrapping and first_task.reason == "answered"
    wrapping = await centre.agent(agent.id)
    assert wrapping.routing_state == RoutingState.wrap_up
    assert wrapping.wrapup_until is not None
    assert 590 <= (wrapping.wrapup_until - now()).total_seconds() <= 600
    assert wrapping.calls_today == 1, "the call counts at once, not at the end of wrap-up"

    second = await centre.dial(SUPPORT, from_="+14155550102")
    await waiting_task(centre, second)
    await wait_rounds(centre, second, 2)
    assert len(agent.phone.offers) == 1, "nobody is offered to an agent in wrap-up"
    return agent, first_task.id, second


async def test_wrapup_keeps_the_agent_from_callers_until_they_end_it(centre: Centre):
    agent, first_task_id, second = await wrapup_after_first_call(centre)
    user = await centre.db.get(User, agent.user_id)
    assert user is not None
    token = await make_token(centre.db, user=user)
    await centre.db.commit()

    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{centre.app_url}/api/agents/me/wrap-up/end",
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        assert response.status == 200
        assert (await response.json())["routing_state"] in ("idle", "ringing")

    report = await centre.control.wait_for_call(second, timeout=60)
    call = await centre.settled(report["sid"])
    assert call.outcome == Outcome.answered and call.agent_user_id == agent.user_id
    assert offered_from(agent.phone) == [CALLER, "+14155550102"]
    done = await centre.db.get(Task, first_task_id, populate_existing=True)
    assert done is not None and done.status == TaskStatus.completed
    assert done.wrapup_seconds is not None and done.wrapup_seconds < 600
    states = [state for kind, state, _ in await centre.state_log(agent.id) if kind == "routing"]
    assert states[:5] == ["ringing", "on-call", "wrap-up", "idle", "ringing"]


async def test_wrapup_whose_time_is_up_frees_the_agent_for_the_next_caller(
    centre: Centre, emulator: Emulator
):
    """No worker runs here: the next round of the waiting caller's loop finds the agent's
    wrap-up over and offers them the call (and completes the task they wrapped up)."""
    agent, first_task_id, second = await wrapup_after_first_call(centre)
    with paused(emulator):
        await arrange(centre, Agent, agent.id, wrapup_until=now() - dt.timedelta(seconds=1))

    report = await centre.control.wait_for_call(second, timeout=60)
    call = await centre.settled(report["sid"])
    assert call.outcome == Outcome.answered and call.agent_user_id == agent.user_id
    assert len(agent.phone.offers) == 2
    done = await centre.db.get(Task, first_task_id, populate_existing=True)
    assert done is not None and done.status == TaskStatus.completed


# --- callbacks ----------------------------------------------------------------------------

CALL_ME_BACK = [*SUPPORT, {"press": "2"}]


async def callback_task(centre: Centre, call: Call) -> Task:
    await centre.db.commit()
    task = await centre.db.scalar(
        select(Task)
        .where(Task.call_id == call.id, Task.channel == TaskChannel.callback)
        .execution_options(populate_existing=True)
    )
    assert task is not None, "no callback was made of the call"
    return task


async def dialled(centre: Centre, number: str) -> list[dict[str, Any]]:
    """The calls the app placed to a customer's number, as the emulator saw them."""
    return [
        call for call in await centre.emulator_calls()
        if call["direction"] == "outbound-api" and call["to"] == number
    ]


async def test_a_callback_keeps_the_callers_place_and_dials_them_when_an_agent_takes_it(
    centre: Centre,
):
    agent = await hire(centre, talk_seconds=60, answer_delay=1)
    first = await centre.dial(SUPPORT, from_="+14155550120")
    await in_state(centre, agent.id, RoutingState.on_call)

    # The second caller asks to be called back and hangs up.
    asker = await centre.call(CALL_ME_BACK, from_="+14155550121")
    assert "We will call you back at this number, in your turn" in heard(asker)
    # A third caller comes after and waits on the line.
    later = await centre.dial(SUPPORT, from_="+14155550122")
    later_entered = (await waiting_task(centre, later)).entered_at
    assert (await centre.agent(agent.id)).routing_state == RoutingState.on_call

    await centre.control.wait_for_call(first, timeout=60)
    await centre.control.wait_for_call(later, timeout=60)
    # The agent's phone showed the callback (the customer's number) before the later caller.
    assert offered_from(agent.phone) == ["+14155550120", "+14155550121", "+14155550122"]

    asked = await centre.settled(asker["sid"])
    assert asked.outcome == Outcome.callback
    voice, _ = await centre.task(asked)
    assert (voice.status, voice.reason) == (TaskStatus.canceled, "callback")
    callback = await callback_task(centre, asked)
    assert callback.entered_at == voice.entered_at < later_entered
    assert (callback.status, callback.reason, callback.attempts) == (
        TaskStatus.completed, "answered", 1
    )
    # The emulator rang the customer; they answered and talked to the agent.
    legs = await dialled(centre, "+14155550121")
    assert len(legs) == 1 and legs[0]["status"] == "completed" and legs[0]["answered"]
    assert "this is your call back" in heard(legs[0])
    outbound = await centre.settled(legs[0]["sid"])
    assert outbound.agent_user_id == agent.user_id and outbound.connected_at is not None
    asked_event = await centre.ticket_event(await centre.settled(asker["sid"]))
    assert asked_event is not None
    asked_ticket = asked_event.ticket_id
    outbound_event = await centre.ticket_event(await centre.settled(legs[0]["sid"]))
    assert outbound_event is not None and outbound_event.ticket_id == asked_ticket
    assert "answered by" in outbound_event.body

    answered_later = await centre.settled(later)
    assert answered_later.outcome == Outcome.answered
    assert answered_later.agent_user_id == agent.user_id


@pytest.mark.settings(callback_attempts=2, callback_ring_seconds=5)
async def test_a_callback_nobody_answers_is_tried_again_then_given_up(
    centre: Centre, emulator: Emulator, app: Quart
):
    """The customer's phone rings out twice: the agent is freed each time, the callback
    waits out its retry delay (the worker's timer, its job body run here), and after the
    last attempt it is given up."""
    tel = app.extensions["callcenter"].telephony
    number = "+14155550130"
    await centre.control.set_callee(number, [{"answer": "no-answer"}])
    agent = await hire(centre, talk_seconds=None, answer_delay=1)
    await wrapping_up(centre, agent)
    asker = await centre.call(CALL_ME_BACK, from_=number)
    asked = await centre.settled(asker["sid"])
    assert asked.outcome == Outcome.callback
    task_id = (await callback_task(centre, asked)).id

    # The agent's wrap-up ends (the worker's timer): they are offered the callback.
    await arrange(centre, Agent, agent.id, wrapup_until=now() - dt.timedelta(seconds=1))
    assert await offers.wrapup_ended(tel, agent_id=agent.id)

    def attempts(count: int, status: TaskStatus) -> Callable[[], Awaitable[Task | None]]:
        async def check() -> Task | None:
            await centre.db.commit()
            task = await centre.db.get(Task, task_id, populate_existing=True)
            return task if task and task.attempts == count and task.status == status else None

        return check

    retry = await eventually(attempts(1, TaskStatus.pending), what="a retry planned")
    assert retry.reason == "callback-no-answer"
    assert retry.available_at is not None and retry.available_at > now()
    freed = await in_state(centre, agent.id, RoutingState.idle)
    assert freed.activity == Activity.available and freed.missed_offers == 0
    assert freed.calls_today == 0, "an attempt that never connected is no call"
    await offers.dispatch(tel)
    assert len(agent.phone.offers) == 1, "not offered again before its retry time"

    with paused(emulator):
        await arrange(centre, Task, task_id, available_at=now() - dt.timedelta(seconds=1))
    # (A dispatch pass already running in the app may make the offer: the count says 0.)
    await offers.callback_due(tel, task_id=task_id)
    given_up = await eventually(attempts(2, TaskStatus.canceled), what="the callback given up")
    assert given_up.reason == "callback-unanswered"
    await in_state(centre, agent.id, RoutingState.idle)
    legs = await dialled(centre, number)
    assert [leg["status"] for leg in legs] == ["no-answer", "no-answer"]
    await offers.callback_due(tel, task_id=task_id)
    assert len(agent.phone.offers) == 2, "a callback given up is offered no more"


# --- leaving the queue: voicemail, overflow -----------------------------------------------


async def test_a_waiting_caller_who_presses_1_leaves_a_message_instead(centre: Centre):
    agent = await hire(centre)
    await wrapping_up(centre, agent)
    report = await centre.call([*SUPPORT, {"press": "1"}, {"say": "Order 77 arrived broken."}])
    assert "Please stay on the line" in heard(report)
    assert "leave your name" in heard(report)
    assert report["queue_result"] == "leave" and report["recordings"]
    call = await centre.settled(report["sid"])
    task, queue_name = await centre.task(call)
    assert call.outcome == Outcome.voicemail and call.recording_url
    assert (task.status, task.reason, queue_name) == (TaskStatus.canceled, "voicemail", "support")
    event = await centre.ticket_event(call)
    assert event is not None and event.kind == TicketEventKind.voicemail
    assert event.data["recording_url"] == call.recording_url
    assert agent.phone.offers == []


async def split_support_and_billing(centre: Centre, **support: Any) -> tuple[Staff, Staff]:
    """Support and billing each with their own agent (by skill); returns (support's,
    billing's)."""
    await queue(centre, "billing", expression='skills HAS "billing"')
    await queue(centre, "support", expression='skills HAS "support"', **support)
    helper = await hire(centre, talk_seconds=20, skills={"support": 1})
    biller = await hire(centre, talk_seconds=20, skills={"billing": 1})
    return helper, biller


async def test_a_full_queue_sends_the_next_caller_to_its_overflow_queue(centre: Centre):
    helper, biller = await split_support_and_billing(centre, max_size=1, overflow="billing")
    await wrapping_up(centre, helper)
    waiting = await centre.dial([*SUPPORT, {"wait": 300}, {"hangup": True}], from_="+14155550140")
    await waiting_task(centre, waiting)  # support is full now

    report = await centre.call(SUPPORT, from_="+14155550141")
    call = await centre.settled(report["sid"])
    task, queue_name = await centre.task(call)
    assert queue_name == "billing"
    assert call.outcome == Outcome.answered and call.agent_user_id == biller.user_id
    assert [r.agent_id for r in await centre.reservations(task.id)] == [biller.id]
    assert offered_from(biller.phone) == ["+14155550141"], "not the caller waiting in support"

    first = await waiting_task(centre, waiting)
    assert first.queue_id == (await make_queue(centre.db, name="support")).id


async def test_a_full_queue_overflowing_to_voicemail_sends_the_caller_there(
    centre: Centre, emulator: Emulator
):
    helper, _biller = await split_support_and_billing(centre, max_size=1, overflow="voicemail")
    await wrapping_up(centre, helper)
    waiting = await centre.dial([*SUPPORT, {"wait": 300}, {"hangup": True}], from_="+14155550150")
    await waiting_task(centre, waiting)

    # Sent to voicemail at once, the caller leaves a message; were they kept waiting in the
    # full queue instead, they give up after a minute.
    sid = await centre.dial([*SUPPORT, {"wait": 60}, {"hangup": True}], from_="+14155550151")
    message = asyncio.create_task(say_at_the_tone(emulator, sid, "Please call me."))
    report = await centre.control.wait_for_call(sid, timeout=60)
    await message
    call = await centre.settled(sid)
    task, _ = await centre.task(call)
    assert "leave your name" in heard(report), "the caller was kept waiting in a full queue"
    assert call.outcome == Outcome.voicemail and report["recordings"]
    assert (task.status, task.reason) == (TaskStatus.canceled, "overflow")


async def test_a_caller_past_the_queues_maximum_wait_moves_to_its_overflow_queue(
    centre: Centre, emulator: Emulator
):
    helper, biller = await split_support_and_billing(
        centre, max_wait_seconds=10, overflow="billing"
    )
    await wrapping_up(centre, helper)
    sid = await centre.dial(SUPPORT, from_="+14155550160")
    task = await waiting_task(centre, sid)
    entered_at = task.entered_at
    await wait_rounds(centre, sid, 1)
    with paused(emulator):
        assert biller.phone.offers == []
        await arrange(centre, Task, task.id, step_started_at=now() - dt.timedelta(seconds=11))

    report = await centre.control.wait_for_call(sid, timeout=60)
    call = await centre.settled(report["sid"])
    task, queue_name = await centre.task(call)
    assert queue_name == "billing" and task.entered_at == entered_at
    assert call.outcome == Outcome.answered and call.agent_user_id == biller.user_id
    assert "leave your name" not in heard(report), "moved between queues on the line"


async def test_a_caller_past_the_queues_maximum_wait_overflowing_to_voicemail_goes_there(
    centre: Centre, emulator: Emulator
):
    helper, _biller = await split_support_and_billing(
        centre, max_wait_seconds=10, overflow="voicemail"
    )
    await wrapping_up(centre, helper)
    sid = await centre.dial(SUPPORT, from_="+14155550170")
    message = asyncio.create_task(say_at_the_tone(emulator, sid, "Call me back please."))
    task = await waiting_task(centre, sid)
    with paused(emulator):
        await arrange(centre, Task, task.id, step_started_at=now() - dt.timedelta(seconds=11))

    report = await centre.control.wait_for_call(sid, timeout=60)
    await message
    assert "leave your name" in heard(report) and report["recordings"]
    call = await centre.settled(sid)
    task, queue_name = await centre.task(call)
    assert call.outcome == Outcome.voicemail
    assert (task.status, task.reason, queue_name) == (TaskStatus.canceled, "overflow", "support")


async def test_a_callback_the_agent_leaves_before_the_customer_answers_is_tried_again(
    centre: Centre, app: Quart
):
    tel = app.extensions["callcenter"].telephony
    number = "+14155550135"
    await centre.control.set_callee(number, [{"wait": 15}, {"answer": "answer"}])
    agent = await hire(centre, talk_seconds=3, answer_delay=1)  # gives up after 3 s
    await wrapping_up(centre, agent)
    asked = await centre.settled((await centre.call(CALL_ME_BACK, from_=number))["sid"])
    task_id = (await callback_task(centre, asked)).id
    await arrange(centre, Agent, agent.id, wrapup_until=now() - dt.timedelta(seconds=1))
    assert await offers.wrapup_ended(tel, agent_id=agent.id)

    async def retry_planned() -> Task | None:
        await centre.db.commit()
        task = await centre.db.get(Task, task_id, populate_existing=True)
        return task if task and task.attempts == 1 and task.status == TaskStatus.pending else None

    retry = await eventually(retry_planned, what="the callback back in line")
    assert retry.reason == "callback-agent-left" and retry.available_at is not None
    freed = await in_state(centre, agent.id, RoutingState.idle)
    assert freed.calls_today == 0
    legs = await eventually(
        lambda: _ended(dialled(centre, number)), what="the customer's phone stopped ringing"
    )
    assert len(legs) == 1 and not legs[0]["answered"], "nobody left for the customer to meet"


async def _ended(found: Awaitable[list[dict[str, Any]]]) -> list[dict[str, Any]] | None:
    legs = await found
    return legs if legs and all(leg["end_time"] is not None for leg in legs) else None


def queued_jobs(app: Quart, name: str) -> list[dict[str, Any]]:
    """The arguments of the worker jobs named `name` the app has queued (none runs here)."""
    huey = app.extensions["callcenter"].telephony.jobs.huey
    return [
        task.args[1] for task in [*huey.scheduled(), *huey.pending()] if task.args[0] == name
    ]


async def test_a_callback_asked_for_at_a_narrow_escalation_step_still_escalates(
    centre: Centre, app: Quart
):
    tel = app.extensions["callcenter"].telephony
    support = await make_queue(centre.db, name="support")
    await workflows.set_workflow(
        centre.db, queue=support,
        steps=[
            {"queue": "support", "expression": "skill_levels.support >= 3", "timeout": 60},
            {"queue": "support"},
        ],
    )
    await centre.db.commit()
    expert = await hire(centre, skills={"support": 3})
    await go(centre, expert, Activity.on_break, "lunch")
    junior = await hire(centre, talk_seconds=20, skills={"support": 1})
    number = "+14155550138"
    asked = await centre.settled((await centre.call(CALL_ME_BACK, from_=number))["sid"])
    callback = await callback_task(centre, asked)
    assert (callback.step, callback.status) == (0, TaskStatus.pending)
    assert callback.workflow_id is not None
    assert junior.phone.offers == [], "step 0 is for level 3 only"

    # The step's time passes; the worker runs the escalation timers the app queued.
    await arrange(centre, Task, callback.id, step_started_at=now() - dt.timedelta(minutes=5))
    for kwargs in queued_jobs(app, escalation.ESCALATE):
        await escalation.step_timed_out(tel, **kwargs)

    async def offered() -> bool:
        return bool(junior.phone.offers)

    await eventually(offered, what="the callback offered at the next step", within=2)
    await eventually(
        lambda: dialled(centre, number), what="the customer called back", within=10
    )

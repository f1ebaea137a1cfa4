"""The live board's picture of the centre: every queue's line, agents and today's figures.

One snapshot, read from the store in a handful of grouped queries, serves every board
connected to an instance (`reports.feed`); a page that missed events asks for a new one.
Times go out as ISO strings with the server's clock, so a page can keep waits ticking
between snapshots without trusting the browser's clock.

Figures for today (since midnight in the centre's `timezone`), per queue and for all:
- offered: voice calls that entered the queue; answered: those an agent took;
  abandoned: callers who hung up before an agent took them;
- service level: answered within the queue's threshold, of answered and abandoned;
- average speed of answer: the answered callers' mean wait;
- average handle time: from answer to the end of wrap-up, for calls done with;
- abandonment rate: abandoned of offered.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.customers import service as customers
from callcenter.routing import agents, queues, tasks
from callcenter.routing.models import Activity, Agent, RoutingState, Task, TaskQueue

# The board's agent states, in the order it shows them.
STATES = ("available", "ringing", "on-call", "wrap-up", "break", "offline")
# A queue whose oldest caller has waited this share of its service-level threshold is at
# risk of missing it.
AT_RISK = 0.8
# At most this many waiting callers are listed (every one is counted).
LISTED = 200


def start_of_day(now: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """Midnight today in the centre's time zone, in UTC."""
    local = now.astimezone(zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(dt.UTC)


def agent_state(agent: Agent, now: dt.datetime) -> tuple[str, dt.datetime]:
    """What the board shows an agent doing, and since when. A wrap-up whose time is up is
    available (routing offers them calls again)."""
    state = agent.routing_state
    over = agent.wrapup_until is not None and agent.wrapup_until <= now
    if state == RoutingState.wrap_up and not (over and agent.activity == Activity.available):
        return "wrap-up", agent.routing_state_changed_at
    if state in (RoutingState.ringing, RoutingState.on_call):
        return state.value, agent.routing_state_changed_at
    since = max(agent.activity_changed_at, agent.routing_state_changed_at)
    if agent.activity == Activity.available:
        return "available", (agent.wrapup_until if over and agent.wrapup_until else since)
    return agent.activity.value, agent.activity_changed_at


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(total: float, count: int) -> int | None:
    return round(total / count) if count else None


def _today(day: tasks.DayFigures) -> dict[str, Any]:
    return {
        "offered": day.offered,
        "answered": day.answered,
        "abandoned": day.abandoned,
        "service_level": _rate(day.answered_in_time, day.answered + day.abandoned),
        "average_answer_seconds": _mean(day.wait_seconds, day.answered),
        "average_handle_seconds": _mean(day.handle_seconds, day.handled),
        "abandonment_rate": _rate(day.abandoned, day.offered),
    }


def _sum(days: list[tasks.DayFigures]) -> tasks.DayFigures:
    """Every queue's figures added up, column by column."""
    if not days:
        return tasks.DayFigures()
    return tasks.DayFigures(*(sum(column) for column in zip(*days, strict=True)))


def _caller(task: Task, names: dict[int, str]) -> dict[str, Any]:
    attributes = task.attributes or {}
    customer_id = attributes.get("customer_id")
    return {
        "number": attributes.get("from") or "unknown",
        "customer_id": customer_id,
        "customer": names.get(customer_id) if isinstance(customer_id, int) else None,
    }


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


async def snapshot(session: AsyncSession, *, now: dt.datetime, zone: ZoneInfo) -> dict[str, Any]:
    """The whole board as JSON-ready data."""
    line = await tasks.not_yet_answered(session, limit=LISTED)
    every_queue: list[TaskQueue] = await queues.list_queues(session)
    unanswered = await tasks.unanswered_by_queue(session)
    days = await tasks.day_figures(session, since=start_of_day(now, zone))
    people = await agents.list_agents(session)
    member = await queues.memberships(session, agent_ids=[agent.id for agent, _user in people])
    current = await tasks.current_tasks(session)
    customer_ids = {
        customer_id
        for task in [*line, *current.values()]
        if isinstance(customer_id := (task.attributes or {}).get("customer_id"), int)
    }
    names = await customers.names(session, customer_ids=customer_ids)
    queue_names = {queue.id: queue.name for queue in every_queue}

    agent_rows = []
    by_queue: dict[str, dict[str, int]] = {q.name: dict.fromkeys(STATES, 0) for q in every_queue}
    totals = dict.fromkeys(STATES, 0)
    for agent, user in people:
        state, since = agent_state(agent, now)
        totals[state] += 1
        for name in member.get(agent.id, []):
            if name in by_queue:
                by_queue[name][state] += 1
        task = current.get(agent.id)
        agent_rows.append({
            "id": agent.id,
            "name": user.name or user.email,
            "state": state,
            "since": _iso(since),
            "break_reason": agent.break_reason if state == "break" else None,
            "queues": member.get(agent.id, []),
            "call": None if task is None or state not in ("ringing", "on-call", "wrap-up") else {
                **_caller(task, names),
                "queue": queue_names.get(task.queue_id or 0),
            },
        })

    queue_rows = []
    for queue in every_queue:
        waiting, first = unanswered.get(queue.id, (0, None))
        longest = max(0, round((now - first).total_seconds())) if first else 0
        queue_rows.append({
            "id": queue.id,
            "name": queue.name,
            "waiting": waiting,
            "oldest_entered_at": _iso(first),
            "longest_wait_seconds": longest,
            "service_level_seconds": queue.service_level_seconds,
            "at_risk": first is not None and longest >= AT_RISK * queue.service_level_seconds,
            "agents": by_queue[queue.name],
            "today": _today(days.get(queue.id, tasks.DayFigures())),
        })
    first_of_all = min((first for _n, first in unanswered.values()), default=None)
    return {
        "now": now.isoformat(),
        "at_risk_share": AT_RISK,
        "all": {
            "waiting": sum(row["waiting"] for row in queue_rows),
            "oldest_entered_at": _iso(first_of_all),
            "longest_wait_seconds": max((row["longest_wait_seconds"] for row in queue_rows),
                                        default=0),
            "agents": totals,
            "today": _today(_sum(list(days.values()))),
        },
        "queues": queue_rows,
        "waiting": [
            {
                "task_id": task.id,
                **_caller(task, names),
                "queue": queue_names.get(task.queue_id or 0),
                "channel": task.channel.value,
                "priority": task.priority,
                "entered_at": _iso(task.entered_at),
                "ringing": task.status.value == "reserved",
            }
            for task in line
        ],
        "agents": agent_rows,
    }

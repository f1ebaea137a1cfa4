"""The time report: where agents' time went, per agent, per day and per ticket.

Days are the centre's days (its time zone), as supervisors read them; every figure is a
sum of time entries, so corrections and merges are in it exactly as they are on tickets.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from callcenter import exports
from callcenter.accounts import service as accounts
from callcenter.tickets import timing
from callcenter.tickets.models import TimeEntry

SOURCES = ("timer", "call", "manual", "correction")


@dataclass
class Row:
    """One agent's time on one day, by where it came from."""

    agent: str
    day: dt.date
    by_source: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_source.values())


@dataclass
class Report:
    since: dt.date
    until: dt.date  # inclusive
    rows: list[Row]
    per_agent: dict[str, int]
    per_ticket: dict[int, int]
    entries: list[TimeEntry]
    names: dict[int, str]

    @property
    def total(self) -> int:
        return sum(self.per_agent.values())


async def build(
    session: AsyncSession, *, since: dt.date, until: dt.date, zone: ZoneInfo
) -> Report:
    """The report for the centre's days `since` to `until`, both included."""
    start = dt.datetime.combine(since, dt.time(), tzinfo=zone).astimezone(dt.UTC)
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    found = await timing.in_range(session, since=start, until=end.astimezone(dt.UTC))
    names = await accounts.emails(session, user_ids={e.user_id for e in found if e.user_id})
    cells: dict[tuple[str, dt.date], dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(SOURCES, 0)
    )
    per_agent: dict[str, int] = defaultdict(int)
    per_ticket: dict[int, int] = defaultdict(int)
    for entry in found:
        agent = names.get(entry.user_id, "a former user") if entry.user_id else "nobody"
        cells[(agent, entry.worked_at.astimezone(zone).date())][entry.source.value] += entry.seconds
        per_agent[agent] += entry.seconds
        per_ticket[entry.ticket_id] += entry.seconds
    ordered = sorted(cells.items(), key=lambda item: (item[0][1], item[0][0]))  # day, agent
    rows = [Row(agent=agent, day=day, by_source=values) for (agent, day), values in ordered]
    return Report(since=since, until=until, rows=rows, per_agent=dict(per_agent),
                  per_ticket=dict(sorted(per_ticket.items())), entries=found, names=names)


def as_csv(report: Report, *, zone: ZoneInfo) -> str:
    """Every entry of the report, one per line, for a spreadsheet or payroll."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["entry", "ticket", "agent", "day", "worked_at", "seconds", "source",
                     "call_part", "corrects", "note"])
    for entry in report.entries:
        writer.writerow([
            entry.id, entry.ticket_id,
            report.names.get(entry.user_id, "") if entry.user_id else "",
            entry.worked_at.astimezone(zone).date().isoformat(), entry.worked_at.isoformat(),
            entry.seconds, entry.source.value, entry.call_part or "", entry.corrects_id or "",
            exports.cell(entry.note),
        ])
    return out.getvalue()

"""The time report: per agent, per centre day, per ticket; CSV for spreadsheets."""

from __future__ import annotations

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
from builders import DEFAULT_PASSWORD, make_user, sign_in
from quart.testing import QuartClient
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.accounts.models import Role
from callcenter.customers import service as customers
from callcenter.reports import time
from callcenter.tickets import service as tickets
from callcenter.tickets import timing
from callcenter.tickets.models import Channel

BERLIN = ZoneInfo("Europe/Berlin")


async def _ticket(session: AsyncSession) -> int:
    customer = await customers.find_or_create_by_phone(session, phone="+14155550100")
    return (await tickets.create_ticket(session, requester_id=customer.id, subject="x",
                                        body="x", channel=Channel.web, author_id=None)).id


async def test_days_are_the_centres_and_corrections_count(db_session: AsyncSession):
    agent, supervisor = await make_user(db_session), await make_user(db_session)
    ticket = await _ticket(db_session)
    # 23:30 UTC on 7 December is 00:30 on the 8th in Berlin.
    late = dt.datetime(2026, 12, 7, 23, 30, tzinfo=dt.UTC)
    entry = await timing.add_manual(db_session, ticket_id=ticket, user_id=agent.id,
                                    seconds=600, note="=HYPERLINK(\"x\")", worked_at=late,
                                    now=late)
    await timing.correct(db_session, entry=entry, seconds=300, reason="half", now=late,
                         actor_id=supervisor.id)
    report = await time.build(db_session, since=dt.date(2026, 12, 8),
                              until=dt.date(2026, 12, 8), zone=BERLIN)
    assert [(row.day, row.by_source["manual"], row.by_source["correction"], row.total)
            for row in report.rows] == [(dt.date(2026, 12, 8), 600, -300, 300)]
    assert report.per_ticket == {ticket: 300} and report.total == 300
    utc_day = await time.build(db_session, since=dt.date(2026, 12, 8),
                               until=dt.date(2026, 12, 8), zone=ZoneInfo("UTC"))
    assert utc_day.rows == []
    rows = list(csv.reader(io.StringIO(time.as_csv(report, zone=BERLIN))))
    assert rows[1][9] == "'=HYPERLINK(\"x\")"  # shown as text, never run as a formula


@pytest.mark.backends("sqlite")
async def test_the_report_is_for_supervisors(client: QuartClient, db_session: AsyncSession):
    agent = await make_user(db_session, role=Role.agent)
    supervisor = await make_user(db_session, role=Role.supervisor)
    await db_session.commit()
    await sign_in(client, email=agent.email, password=DEFAULT_PASSWORD)
    assert (await client.get("/reports/time.csv")).status_code == 403
    await sign_in(client, email=supervisor.email, password=DEFAULT_PASSWORD)
    answer = await client.get("/reports/time.csv?from=2026-12-01&to=2026-12-07")
    assert answer.status_code == 200 and answer.content_type.startswith("text/csv")
    assert 'filename="time-2026-12-01-2026-12-07.csv"' in answer.headers["Content-Disposition"]

"""The time report page, `/reports/time`, and its CSV export: supervisors and admins."""

from __future__ import annotations

import datetime as dt

from quart import Blueprint, Response, render_template, request
from quart_schema import hide

from callcenter.accounts.auth import require_role
from callcenter.accounts.models import Role
from callcenter.db import utcnow
from callcenter.http.context import db, settings
from callcenter.reports import time

bp = Blueprint("time_report", __name__)
MAX_DAYS = 366


def _period() -> tuple[dt.date, dt.date]:
    """The days asked for (`from`, `to`, ISO dates), by default the last seven; bounded."""
    today = utcnow().astimezone(settings().zone()).date()

    def day(name: str, default: dt.date) -> dt.date:
        try:
            return dt.date.fromisoformat(request.args.get(name, ""))
        except ValueError:
            return default

    until = day("to", today)
    since = day("from", until - dt.timedelta(days=6))
    if since > until:
        since, until = until, since
    return max(since, until - dt.timedelta(days=MAX_DAYS)), until


async def _report() -> time.Report:
    since, until = _period()
    return await time.build(db(), since=since, until=until, zone=settings().zone())


@bp.get("/reports/time")
@hide
@require_role(Role.supervisor)
async def time_page() -> str:
    report = await _report()
    return await render_template("reports/time.html", report=report, sources=time.SOURCES)


@bp.get("/reports/time.csv")
@hide
@require_role(Role.supervisor)
async def time_csv() -> Response:
    report = await _report()
    name = f"time-{report.since}-{report.until}.csv"
    return Response(
        time.as_csv(report, zone=settings().zone()), content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )

"""Business hours: when the centre is open, and deadlines counted only in open time.

A ticket's SLA ("first reply within 4 business hours") and, later, an IVR's opening hours
both ask the same two questions of one calendar: is it open at this instant, and when is
`n` minutes of open time after this instant. The calendar is written the way people say
it, in the centre's time zone:

    mon-fri 09:00-17:00; sat 10:00-14:00

Days are mon..sun, single or ranges (`fri-mon` wraps); several windows a day are allowed
(`mon-fri 09:00-12:00, 13:00-17:00`); `24/7` is always open. Holidays (dates) are closed
all day. Daylight-saving changes are handled by working in local wall-clock time and
converting each window's ends to UTC.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALWAYS = "24/7"
_CLAUSE = re.compile(r"^(?P<days>[a-z,\- ]+?)\s+(?P<windows>\d.*)$")
_WINDOW = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")
# Past this, a deadline is not worth counting open time for (and a calendar with no open
# time at all would loop for ever).
_HORIZON_DAYS = 400


class HoursError(ValueError):
    """The calendar cannot be read; the message says which part and why."""


@dataclass(frozen=True)
class BusinessHours:
    """Open windows per weekday (0 = Monday) as (start, end) minutes after midnight."""

    zone: ZoneInfo
    windows: tuple[tuple[tuple[int, int], ...], ...]
    holidays: frozenset[dt.date] = field(default_factory=frozenset)
    always: bool = False

    @classmethod
    def parse(
        cls, text: str, *, zone: ZoneInfo, holidays: frozenset[dt.date] = frozenset()
    ) -> BusinessHours:
        text = text.strip().lower()
        if text == ALWAYS:
            return cls(zone=zone, windows=((),) * 7, holidays=holidays, always=True)
        days: list[list[tuple[int, int]]] = [[] for _ in DAYS]
        for clause in filter(None, (part.strip() for part in text.split(";"))):
            found = _CLAUSE.match(clause)
            if found is None:
                raise HoursError(
                    f"{clause!r}: expected days then times, e.g. 'mon-fri 09:00-17:00'"
                )
            windows = [_window(part.strip(), clause) for part in found["windows"].split(",")]
            for day in _days(found["days"], clause):
                days[day].extend(windows)
        if not any(days):
            raise HoursError(f"{text!r}: no open time at all (write {ALWAYS} for always open)")
        return cls(
            zone=zone, windows=tuple(tuple(sorted(day)) for day in days), holidays=holidays
        )

    def is_open(self, at: dt.datetime) -> bool:
        if self.always:
            return True
        return any(start <= at < end for start, end in self._open_spans(at, days=1, back=1))

    def add(self, start: dt.datetime, minutes: int) -> dt.datetime:
        """The instant when `minutes` of open time have passed since `start`."""
        if self.always:
            return start + dt.timedelta(minutes=minutes)
        left = dt.timedelta(minutes=minutes)
        for span_start, span_end in self._open_spans(start, days=_HORIZON_DAYS, back=1):
            if span_end < start:
                continue
            begin = max(span_start, start)
            if begin + left <= span_end:
                return begin + left
            left -= span_end - begin
        raise HoursError(f"{minutes} minutes of open time do not fit in {_HORIZON_DAYS} days")

    def _open_spans(
        self, around: dt.datetime, *, days: int, back: int
    ) -> list[tuple[dt.datetime, dt.datetime]]:
        """Open spans in UTC, from `back` local days before `around`, for `days` days on."""
        local_day = around.astimezone(self.zone).date() - dt.timedelta(days=back)
        spans = []
        for offset in range(days + back + 1):
            day = local_day + dt.timedelta(days=offset)
            if day in self.holidays:
                continue
            for start, end in self.windows[day.weekday()]:
                spans.append((self._instant(day, start), self._instant(day, end)))
        return spans

    def _instant(self, day: dt.date, minutes: int) -> dt.datetime:
        midnight = dt.datetime.combine(day, dt.time(), tzinfo=self.zone)
        local = midnight + dt.timedelta(minutes=minutes)  # wall-clock arithmetic
        return local.astimezone(dt.UTC)


def _window(text: str, clause: str) -> tuple[int, int]:
    found = _WINDOW.match(text)
    if found is None:
        raise HoursError(f"{clause!r}: {text!r} is not a time range like 09:00-17:00")
    start_h, start_m, end_h, end_m = (int(part) for part in found.groups())
    start, end = start_h * 60 + start_m, end_h * 60 + end_m
    if start_m > 59 or end_m > 59 or end > 24 * 60 or start >= end:
        raise HoursError(f"{clause!r}: {text!r} must start before it ends, within one day")
    return start, end


def _days(text: str, clause: str) -> list[int]:
    chosen: list[int] = []
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        ends = [end.strip() for end in part.split("-")]
        if len(ends) > 2 or any(end not in DAYS for end in ends):
            raise HoursError(f"{clause!r}: {part!r} is not a day or range of days (mon..sun)")
        first, last = DAYS.index(ends[0]), DAYS.index(ends[-1])
        chosen.extend((first + step) % 7 for step in range((last - first) % 7 + 1))
    return chosen

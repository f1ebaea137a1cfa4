"""Business hours: open or closed at an instant, and deadlines counted in open time."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcenter.business_hours import BusinessHours, HoursError

UTC = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str, zone: ZoneInfo = UTC) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=zone).astimezone(dt.UTC)


WEEKDAYS = BusinessHours.parse("mon-fri 09:00-17:00", zone=UTC)


def test_open_and_closed() -> None:
    assert WEEKDAYS.is_open(at("2026-12-04 09:00"))  # a Friday
    assert not WEEKDAYS.is_open(at("2026-12-04 17:00"))
    assert not WEEKDAYS.is_open(at("2026-12-05 12:00"))  # Saturday


def test_a_deadline_waits_over_the_weekend() -> None:
    # Friday 16:50 + 30 open minutes: 10 on Friday, 20 on Monday morning.
    assert WEEKDAYS.add(at("2026-12-04 16:50"), 30) == at("2026-12-07 09:20")


def test_a_deadline_from_outside_hours_starts_at_opening() -> None:
    assert WEEKDAYS.add(at("2026-12-05 03:00"), 60) == at("2026-12-07 10:00")
    assert WEEKDAYS.add(at("2026-12-07 08:00"), 0) == at("2026-12-07 09:00")


def test_several_windows_and_wrapping_day_ranges() -> None:
    hours = BusinessHours.parse("fri-mon 09:00-12:00, 13:00-17:00", zone=UTC)
    assert hours.is_open(at("2026-12-06 10:00"))  # Sunday
    assert not hours.is_open(at("2026-12-06 12:30"))  # lunch
    assert not hours.is_open(at("2026-12-08 10:00"))  # Tuesday
    assert hours.add(at("2026-12-06 11:30"), 60) == at("2026-12-06 13:30")


def test_local_time_across_daylight_saving() -> None:
    hours = BusinessHours.parse("mon-sun 09:00-17:00", zone=BERLIN)
    # Berlin moves to summer time on 2027-03-28: opening is 08:00 UTC, then 07:00 UTC.
    assert hours.add(at("2027-03-27 16:30", BERLIN), 60) == at("2027-03-28 09:30", BERLIN)
    assert at("2027-03-28 09:30", BERLIN).hour == 7


def test_holidays_are_closed() -> None:
    hours = BusinessHours.parse(
        "mon-fri 09:00-17:00", zone=UTC, holidays=frozenset({dt.date(2026, 12, 25)})
    )
    assert not hours.is_open(at("2026-12-25 10:00"))
    assert hours.add(at("2026-12-24 16:00"), 120) == at("2026-12-28 10:00")


def test_always_open() -> None:
    hours = BusinessHours.parse("24/7", zone=UTC)
    assert hours.is_open(at("2026-12-06 03:00"))
    assert hours.add(at("2026-12-06 03:00"), 30) == at("2026-12-06 03:30")


@pytest.mark.parametrize(("text", "fragment"), [
    ("mon-fri", "expected days then times"),
    ("mon-fry 09:00-17:00", "'mon-fry' is not a day"),
    ("mon 17:00-09:00", "must start before it ends"),
    ("mon 9-17", "is not a time range"),
    ("", "no open time"),
])
def test_unreadable_hours_are_refused_with_the_part(text: str, fragment: str) -> None:
    with pytest.raises(HoursError, match=fragment):
        BusinessHours.parse(text, zone=UTC)


@given(
    start=st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 12, 31)),
    first=st.integers(min_value=0, max_value=3000),
    second=st.integers(min_value=0, max_value=3000),
)
def test_deadlines_add_up(start: dt.datetime, first: int, second: int) -> None:
    """n then m minutes of open time end where n + m minutes do, and the end is open time
    (or the close of a window)."""
    begin = start.replace(tzinfo=dt.UTC)
    hours = BusinessHours.parse("mon-fri 09:00-12:00, 13:00-17:30; sat 10:00-14:00", zone=BERLIN)
    assert hours.add(hours.add(begin, first), second) == hours.add(begin, first + second)

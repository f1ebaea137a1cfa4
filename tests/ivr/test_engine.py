"""The engine decides what a caller meets next, for the webhooks and the simulator alike:
the shipped flow's greeting and menu, each key, speech, a wrong key, silence until the
last attempt, a queue nobody staffs, and a node gone from an edited flow."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from callcenter.config import PROJECT_DIR
from callcenter.ivr import engine
from callcenter.ivr.flow import FlowError, load, parse

FLOW = load(PROJECT_DIR / "ivr" / "default.yaml")
EVERYONE = None
NOBODY = frozenset[str]()


def test_the_call_starts_with_the_greeting_then_the_menu():
    outcome = engine.enter(FLOW, FLOW.start)
    assert outcome.says == [FLOW.nodes["welcome"].text]  # type: ignore[union-attr]
    assert isinstance(outcome.then, engine.Ask)
    assert (outcome.then.node, outcome.then.attempt, outcome.then.num_digits) == ("main_menu", 1, 1)
    assert outcome.path == ["welcome", "main_menu"]


def test_keys_and_speech_lead_to_their_queues():
    for digits, speech, queue in (
        ("1", "", "billing"), ("2", "", "support"), ("", "My shop is down!", "urgent"),
        ("", "Billing, please.", "billing"),
    ):
        outcome = engine.answer(FLOW, "main_menu", attempt=1, digits=digits, speech=speech)
        assert isinstance(outcome.then, engine.Wait) and outcome.then.queue == queue


def test_a_wrong_key_explains_and_asks_again_and_silence_gives_up_after_the_last_attempt():
    wrong = engine.answer(FLOW, "main_menu", attempt=1, digits="7", speech="")
    assert wrong.says == ["Sorry, that is not one of the choices."]
    assert isinstance(wrong.then, engine.Ask) and wrong.then.attempt == 2
    quiet = engine.answer(FLOW, "main_menu", attempt=2, digits="", speech="")
    assert quiet.says == [] and isinstance(quiet.then, engine.Ask) and quiet.then.attempt == 3
    last = engine.answer(FLOW, "main_menu", attempt=3, digits="", speech="", staffed=NOBODY)
    assert isinstance(last.then, engine.Record), "no_input is support, which nobody staffs"
    assert last.path == ["support", "voicemail"]


def test_a_node_gone_from_an_edited_flow_starts_the_caller_over():
    outcome = engine.answer(FLOW, "old_menu", attempt=1, digits="1", speech="")
    assert isinstance(outcome.then, engine.Ask) and outcome.then.node == "main_menu"


HOURS = """
name: hours
start: check
nodes:
  check:
    type: hours
    hours: mon-fri 09:00-17:00
    timezone: Europe/London
    holidays: ["2026-12-25"]
    open: menu
    closed: closed
  menu:
    type: menu
    prompt: Press 1 for support.
    options: [{digits: "1", next: bye}]
    no_input: bye
  closed:
    type: hangup
    text: We are closed. Our hours are Monday to Friday, nine to five.
  bye:
    type: hangup
"""


def test_an_hours_node_opens_in_its_hours_and_closes_outside_them_and_on_holidays():
    flow = parse(HOURS)
    weekday = engine.enter(flow, flow.start, at=dt.datetime(2026, 12, 22, 10, 30))
    assert isinstance(weekday.then, engine.Ask) and weekday.path == ["check", "menu"]
    evening = engine.enter(flow, flow.start, at=dt.datetime(2026, 12, 22, 17, 0))
    assert isinstance(evening.then, engine.End) and "closed" in evening.then.text
    holiday = engine.enter(flow, flow.start, at=dt.datetime(2026, 12, 25, 10, 30))
    assert isinstance(holiday.then, engine.End), "Christmas falls on a Friday: closed"
    # 09:30 in New York is 14:30 in London: open, read in the node's own zone.
    new_york = dt.datetime(2026, 12, 22, 9, 30, tzinfo=ZoneInfo("America/New_York"))
    assert isinstance(engine.enter(flow, flow.start, at=new_york).then, engine.Ask)


@pytest.mark.parametrize(("change", "reason"), [
    (("mon-fri 09:00-17:00", "mon-fry 09:00-17:00"), "'mon-fry' is not a day"),
    (("Europe/London", "Europe/Londn"), "not a time zone"),
    (("closed: closed", "closed: check"), "loop back on themselves"),
])
def test_an_hours_node_that_cannot_work_is_refused_naming_it(change: tuple[str, str], reason: str):
    with pytest.raises(FlowError) as refused:
        parse(HOURS.replace(*change))
    assert refused.value.node == "check" and reason in str(refused.value)

"""Generated flows (hypothesis): any document is either refused with a FlowError naming a
node or its reason, or valid; a valid flow walked with any keys, speech or silence, at any
time, staffed or not, always ends each step in something Twilio can do (a question, a
queue, a recording or a hang-up: a caller is never stranded), and renders TwiML the
emulator's parser accepts without warnings."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callcenter.ivr import engine, render
from callcenter.ivr.flow import Flow, FlowError, as_flow
from callcenter.telephony.urls import VoiceUrls
from twilio_emulator.twiml import parse as parse_twiml

NAMES = ["a", "b", "c", "d", "e", "f"]
node_name = st.sampled_from(NAMES)
text = st.text(alphabet=st.characters(codec="utf-8", categories=["L", "N", "Zs", "P"]),
               min_size=0, max_size=30).map(lambda t: t or "Hello")



def _node(targets: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """A node whose targets are mostly the flow's own nodes (a few are not, and a few
    fields are out of bounds, so refusals are generated too)."""
    target = st.sampled_from(targets * 9 + ["missing"])
    option = st.fixed_dictionaries({
        "digits": st.sampled_from(["1", "2", "9", "*", "#", "12"]),
        "words": st.lists(st.sampled_from(["billing", "help", "down", "sales"]), max_size=2),
        "next": target,
    })
    return st.one_of(
        st.fixed_dictionaries({"type": st.just("say"), "text": text, "next": target}),
        st.fixed_dictionaries({
            "type": st.just("menu"), "prompt": text, "no_input": target,
            "options": st.lists(option, min_size=0, max_size=3),
            "attempts": st.integers(min_value=0, max_value=4),
        }),
        st.fixed_dictionaries({
            "type": st.just("queue"), "queue": st.sampled_from(["support", "billing"]),
            "no_agents": target,
        }),
        st.fixed_dictionaries({"type": st.just("voicemail"), "prompt": text}),
        st.fixed_dictionaries({"type": st.just("hangup"), "text": text}),
        st.fixed_dictionaries({
            "type": st.just("hours"), "open": target, "closed": target,
            "timezone": st.sampled_from(["Europe/London", "America/New_York", "Mars/Base"]),
            "hours": st.sampled_from(["mon-fri 09:00-17:00", "24/7", "sat 10:00-14:00",
                                      "someday 9-5"]),
        }),
        st.fixed_dictionaries({
            "type": st.just("set"), "next": target,
            "priority": st.one_of(st.none(), st.integers(min_value=-1, max_value=101)),
        }),
    )


def _document(names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({
        "name": st.just("generated"), "start": st.sampled_from(names),
        "nodes": st.fixed_dictionaries({name: _node(names) for name in names}),
    })


documents = st.lists(node_name, min_size=1, max_size=6, unique=True).flatmap(_document)
answers = st.lists(st.tuples(st.sampled_from(["", "1", "2", "9", "*", "#", "12", "7"]),
                             st.sampled_from(["", "billing please", "my shop is down"])),
                   max_size=6)
moments = st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 12, 31))
URLS = VoiceUrls("https://cc.example.com", version=7)


def _valid(document: dict[str, Any]) -> Flow | None:
    try:
        return as_flow(document)
    except FlowError as error:
        assert error.problems and all(str(problem) for problem in error.problems)
        return None


def _speakable(flow: Flow, outcome: engine.Outcome) -> None:
    assert isinstance(outcome.then, engine.Ask | engine.Wait | engine.Record | engine.End)
    verbs, warnings = parse_twiml(str(render.twiml(flow, outcome, URLS)))
    assert verbs and warnings == []


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=documents, replies=answers, at=moments, staffed=st.booleans())
def test_a_generated_flow_is_refused_with_a_reason_or_never_strands_a_caller(
    document: dict[str, Any], replies: list[tuple[str, str]], at: dt.datetime, staffed: bool,
):
    flow = _valid(document)
    if flow is None:
        return
    queues = None if staffed else frozenset[str]()
    outcome = engine.enter(flow, flow.start, staffed=queues, at=at)
    _speakable(flow, outcome)
    for digits, speech in replies:
        if not isinstance(outcome.then, engine.Ask):
            break
        outcome = engine.answer(flow, outcome.then.node, attempt=outcome.then.attempt,
                                digits=digits, speech=speech, staffed=queues, at=at)
        _speakable(flow, outcome)

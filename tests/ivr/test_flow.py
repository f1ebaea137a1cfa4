"""An invalid IVR flow is refused with the node and the reason; the shipped one is valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.config import PROJECT_DIR
from callcenter.ivr.engine import choose
from callcenter.ivr.flow import FlowError, MenuNode, load, parse


def test_shipped_default_flow_is_valid():
    flow = load(PROJECT_DIR / "ivr" / "default.yaml")
    assert flow.start in flow.nodes


@pytest.mark.parametrize(
    ("yaml_text", "node", "reason"),
    [
        (
            "name: x\nstart: a\nnodes: {a: {type: say, text: hi, next: b}}",
            "a",
            "'b', which does not exist",
        ),
        ("name: x\nstart: a\nnodes: {a: {type: say, text: hi, next: a}}", "a", "loop back"),
        ("name: x\nstart: a\nnodes: {a: {type: hangup, txt: p}}", "a", "txt"),
        (
            "name: x\nstart: m\nnodes:\n  m: {type: menu, prompt: p, no_input: h, options: "
            "[{digits: '1', next: h}, {digits: '1', next: h}]}\n  h: {type: hangup}",
            "m",
            "two options use the digits '1'",
        ),
        ("name: x\nstart: nowhere\nnodes: {a: {type: hangup}}", None, "start node 'nowhere'"),
    ],
)
def test_invalid_flow_names_node_and_reason(yaml_text: str, node: str | None, reason: str):
    with pytest.raises(FlowError) as caught:
        parse(yaml_text)
    assert caught.value.node == node
    assert reason in str(caught.value)


def test_not_yaml_is_refused(tmp_path: Path):
    with pytest.raises(FlowError, match="not valid YAML"):
        parse("name: [unclosed")


def test_choose_by_digits_and_words():
    flow = load(PROJECT_DIR / "ivr" / "default.yaml")
    menu = flow.node("main_menu")
    assert isinstance(menu, MenuNode)
    assert choose(menu, digits="2", speech="").next == "support"
    assert choose(menu, digits="", speech="my shop is down").next == "urgent"
    assert choose(menu, digits="", speech="weather") is None


def test_speech_as_twilio_writes_it_is_understood():
    flow = load(PROJECT_DIR / "ivr" / "default.yaml")
    menu = flow.node("main_menu")
    assert isinstance(menu, MenuNode)
    assert choose(menu, digits="", speech="Billing, please.").next == "billing"
    assert choose(menu, digits="", speech="Our shop is DOWN!").next == "urgent"


def test_menu_offering_hash_does_not_end_input_on_hash():
    from callcenter.ivr.render import render
    from callcenter.telephony.urls import VoiceUrls

    flow = parse(
        "name: x\nstart: m\nnodes:\n  m: {type: menu, prompt: p, no_input: h, options: "
        "[{digits: '#', next: h}, {digits: '1', next: h}]}\n  h: {type: hangup}"
    )
    twiml = str(render(flow, "m", VoiceUrls("http://x")))
    assert 'finishOnKey=""' in twiml

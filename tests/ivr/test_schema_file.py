"""`ivr/flow.schema.json` describes the flow format as the models define it today."""

from __future__ import annotations

from pathlib import Path

from callcenter.ivr.flow import json_schema

SCHEMA = Path(__file__).resolve().parents[2] / "ivr" / "flow.schema.json"


def test_the_shipped_schema_is_current() -> None:
    assert SCHEMA.read_text(encoding="utf-8") == json_schema(), (
        "regenerate it: .venv/bin/python -c 'from callcenter.ivr.flow import json_schema; "
        'open("ivr/flow.schema.json", "w").write(json_schema())\''
    )

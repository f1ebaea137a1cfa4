"""What the IVR flows API takes and gives."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from callcenter.ivr.models import IvrFlow, IvrFlowVersion


class VersionOut(BaseModel):
    number: int
    note: str
    published_at: dt.datetime
    published_by: int | None
    live: bool  # the version new calls meet now

    @classmethod
    def of(cls, version: IvrFlowVersion, *, live_id: int | None) -> VersionOut:
        return cls(number=version.number, note=version.note, published_at=version.published_at,
                   published_by=version.published_by, live=version.id == live_id)


class FlowSummary(BaseModel):
    name: str
    published_version: int | None
    numbers: list[str]  # ours, routed to this flow
    draft_updated_at: dt.datetime

    @classmethod
    def of(cls, flow: IvrFlow, *, live: int | None, numbers: list[str]) -> FlowSummary:
        return cls(name=flow.name, published_version=live, numbers=numbers,
                   draft_updated_at=flow.draft_updated_at)


class FlowList(BaseModel):
    items: list[FlowSummary]


class FlowOut(BaseModel):
    name: str
    draft_yaml: str
    published_yaml: str | None
    versions: list[VersionOut]  # newest first
    numbers: list[str]


class DraftIn(BaseModel):
    """The flow as YAML (the format `callcenter ivr export` writes); its `name` must be the
    flow's."""

    yaml: str = Field(min_length=1, max_length=200_000)


class PublishIn(BaseModel):
    note: str = Field(default="", max_length=2000)


class RollbackIn(BaseModel):
    version: int = Field(ge=1, le=1_000_000)


class DiffOut(BaseModel):
    older: int
    newer: int
    diff: str


class SimulateIn(BaseModel):
    """One step of a simulated call: `node` None starts it; otherwise the caller's answer
    (`digits` pressed, or `speech` said; both empty: silence) to the menu at `node`."""

    draft: bool = True  # the draft, or the live version
    node: str | None = Field(default=None, max_length=63)
    attempt: int = Field(default=1, ge=1, le=100)
    digits: str = Field(default="", max_length=10, pattern=r"^[0-9*#]*$")
    speech: str = Field(default="", max_length=500)
    staffed: bool = True  # False: nobody staffs any queue
    # The simulated date and time; without a zone, each hours node's own local time.
    at: dt.datetime | None = None


class StepOut(BaseModel):
    """What the caller heard, then what happens: `ask` (a menu waits for keys or speech:
    send its `node` and `attempt` back with the answer), `wait` (in `queue`), `record` (a
    message), or `end`."""

    says: list[str]
    then: Literal["ask", "wait", "record", "end"]
    node: str | None = None
    attempt: int | None = None
    num_digits: int | None = None  # keys a menu takes at most
    prompt: str | None = None
    queue: str | None = None
    path: list[str]  # the nodes passed through, in order

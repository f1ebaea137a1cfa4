"""What the IVR flows API takes and gives."""

from __future__ import annotations

import datetime as dt

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

"""What the agents API sends and accepts."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel

from callcenter.routing.models import Activity


class AgentOut(BaseModel):
    id: int
    user_id: int
    email: str
    client_identity: str
    activity: Activity
    activity_changed_at: dt.datetime
    idle_since: dt.datetime


class AgentList(BaseModel):
    items: list[AgentOut]


class ActivityIn(BaseModel):
    """What agents may choose: `reserved` and `busy` are set by routing alone (refused here,
    so the OpenAPI document lists only what is accepted)."""

    activity: Literal[Activity.offline, Activity.available, Activity.away]

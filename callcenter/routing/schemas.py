"""What the routing API sends and accepts."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from callcenter.routing.models import Activity, RoutingState


class AgentOut(BaseModel):
    id: int
    user_id: int
    email: str
    client_identity: str
    activity: Activity
    break_reason: str | None
    activity_changed_at: dt.datetime
    routing_state: RoutingState
    routing_state_changed_at: dt.datetime
    wrapup_until: dt.datetime | None
    idle_since: dt.datetime
    skills: dict[str, int]
    languages: list[str]
    capacity: dict[str, int]
    missed_offers: int
    queues: list[str]


class AgentList(BaseModel):
    items: list[AgentOut]


class ActivityIn(BaseModel):
    """What an agent chooses; routing's states (ringing, on a call, wrap-up) are routing's.
    A break may carry a reason ("lunch", "training")."""

    activity: Activity
    reason: str | None = Field(default=None, max_length=100)

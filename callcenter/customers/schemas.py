"""The customers API's bodies."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from callcenter.api import PageQuery, PlainText
from callcenter.customers.models import IdentityKind


class IdentityOut(BaseModel):
    id: int
    kind: IdentityKind
    value: str = Field(description="E.164 for phone, lower case for email")


class CustomerOut(BaseModel):
    id: int
    name: str
    created_at: dt.datetime
    identities: list[IdentityOut]
    merged_into_id: int | None = Field(description="set once merged: look there instead")
    merged_at: dt.datetime | None
    merged_from: list[int] = Field(description="customers merged into this one")


class CustomerSummary(BaseModel):
    id: int
    name: str
    created_at: dt.datetime


class CustomerPage(BaseModel):
    items: list[CustomerSummary]
    page: int
    per_page: int
    total: int
    next_page: int | None


class CustomerQuery(PageQuery):
    """`q`: a phone number in any format, an email address, a chat id, or part of a name."""

    q: PlainText = Field(default="", max_length=200)


class CustomerPatch(BaseModel):
    name: PlainText = Field(max_length=200)


class IdentityIn(BaseModel):
    kind: IdentityKind
    value: PlainText = Field(min_length=1, max_length=320, description="any format people type")


class CustomerMergeIn(BaseModel):
    into_id: int = Field(ge=1, le=2147483647, description="the customer who keeps everything")

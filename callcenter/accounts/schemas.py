"""What the accounts API sends and accepts."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from callcenter.accounts.models import Role


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    role: Role
    is_active: bool
    created_at: dt.datetime
    last_login_at: dt.datetime | None


class UserPage(BaseModel):
    items: list[UserOut]
    page: int
    per_page: int
    total: int
    next_page: int | None


class UserQuery(BaseModel):
    page: int = Field(default=1, ge=1)
    per_page: int = Field(default=50, ge=1, le=200)
    role: Role | None = None


class MeOut(BaseModel):
    id: int
    email: str
    name: str
    role: Role

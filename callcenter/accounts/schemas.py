"""What the accounts API sends and accepts."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel

from callcenter.accounts.models import Role
from callcenter.api import PageQuery


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


class UserQuery(PageQuery):
    role: Role | None = None


class MeOut(BaseModel):
    id: int
    email: str
    name: str
    role: Role

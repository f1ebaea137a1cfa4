"""Shared parts of the JSON API: the error schema, pagination and documented responses."""

from __future__ import annotations

from pydantic import BaseModel


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    """Every API error: `{"error": {"code": ..., "message": ...}}`."""

    error: ErrorBody


def page_bounds(page: int, per_page: int) -> tuple[int, int]:
    """Offset and limit for a 1-based page."""
    return (page - 1) * per_page, per_page


def next_page(page: int, per_page: int, total: int) -> int | None:
    return page + 1 if page * per_page < total else None


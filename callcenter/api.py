"""Shared parts of the JSON API: the error schema, pagination and the OpenAPI document."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field
from quart_schema import DataSource, OpenAPIProvider
from quart_schema.typing import Model

# Bounds OFFSET = (page - 1) * per_page far inside the 64-bit integers SQLite and PostgreSQL
# take (a larger page is an overflow, a 500), yet far beyond any page a person pages to.
MAX_PAGE = 1_000_000
# The largest row id (32-bit keys). Paths take plain `<int:...>` and lookups answer 404
# beyond it: werkzeug answers a converter's `max` with a 405 when the path has other methods.
ROW_ID_MAX = 2**31 - 1
MAX_PER_PAGE = 200


# No control characters: they make a page unreadable, and PostgreSQL refuses NUL outright.
PlainText = Annotated[str, Field(pattern=r"^[^\x00-\x1f\x7f]*$")]
# Text over several lines (notes, replies, requests): tabs and line breaks besides.
LongText = Annotated[str, Field(pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")]


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    """Every API error: `{"error": {"code": ..., "message": ...}}`."""

    error: ErrorBody


class PageQuery(BaseModel):
    """The query of a paged listing; both numbers are bounded because both reach SQL."""

    page: int = Field(default=1, ge=1, le=MAX_PAGE)
    per_page: int = Field(default=50, ge=1, le=MAX_PER_PAGE)


def page_bounds(page: int, per_page: int) -> tuple[int, int]:
    """Offset and limit for a 1-based page."""
    return (page - 1) * per_page, per_page


def next_page(page: int, per_page: int, total: int) -> int | None:
    return page + 1 if page * per_page < total else None


class APIDocument(OpenAPIProvider):
    """quart-schema's OpenAPI document, with every request body marked `required`.

    `validate_request` answers 400 to a request without its body, but quart-schema leaves
    `required` out, which in OpenAPI means the body is optional.
    """

    def build_request_body(
        self, model: type[Model], source: DataSource
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        request_body, components = super().build_request_body(model, source)
        return {**request_body, "required": True}, components

"""Shared parts of the JSON API: the error schema, pagination and the OpenAPI document."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, Field, ValidationInfo
from pydantic_core import PydanticCustomError
from quart_schema import DataSource, OpenAPIProvider
from quart_schema.typing import Model

from callcenter.errors import APIError

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


# Forms on the admin pages validate with this context: their fields are all text ("30").
FORM = {"form": True}


def _whole_number(value: Any, info: ValidationInfo) -> Any:
    """JSON's `true` and `"30"` are no numbers, though pydantic would take them as 1 and 30:
    refused, as the document promises (`30.0` is a JSON integer and stays one)."""
    text_allowed = isinstance(value, str) and (info.context or {}).get("form")
    if isinstance(value, bool) or (isinstance(value, str) and not text_allowed):
        raise PydanticCustomError("int_type", "Input should be a whole number")
    return value


def count(low: int, high: int) -> Any:
    """A whole number from `low` to `high` (an integer field of a request body)."""
    return Annotated[int, Field(ge=low, le=high), BeforeValidator(_whole_number)]


Row = TypeVar("Row")


async def found(load: Callable[[int], Awaitable[Row | None]], row_id: int, what: str) -> Row:
    """The row `load` finds by `row_id`, or a 404 naming `what` (an id past ROW_ID_MAX is
    one no row has, and is never sent to the database)."""
    row = await load(row_id) if row_id <= ROW_ID_MAX else None
    if row is None:
        raise APIError(404, "not_found", f"There is no such {what}.")
    return row

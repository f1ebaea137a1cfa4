"""One error type for the JSON API, rendered as `{"error": {"code", "message"}}`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

from quart import Quart, Response, has_request_context, jsonify, render_template, request
from quart import Request as QuartRequest
from quart_schema import RequestSchemaValidationError
from werkzeug.exceptions import BadRequest, HTTPException


class APIError(Exception):
    """An error a client should see: an HTTP status, a stable code and a readable message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@contextmanager
def refusing(*kinds: type[Exception]) -> Iterator[None]:
    """A service's refusal (one of `kinds`, its message saying why) as a 422 with that
    message: the request was well formed, but what it asks cannot be done."""
    try:
        yield
    except kinds as error:
        raise APIError(422, "unprocessable", str(error)) from None


class Request(QuartRequest):
    """Quart's request, but a body that cannot be parsed is always a 400, never a 500.

    Quart decodes the body as UTF-8 before its JSON error handling starts, so invalid UTF-8
    escaped as a UnicodeDecodeError (a 500); it now fails like any other malformed JSON.
    """

    async def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        try:
            return await super().get_json(force=force, silent=silent, cache=cache)
        except UnicodeDecodeError as error:
            if silent:
                return None
            return self.on_json_loading_failed(error)

    def on_json_loading_failed(self, error: Exception) -> NoReturn:
        """Say what is wrong; Quart's default message is about a browser or proxy."""
        raise BadRequest("the request body is not valid UTF-8 JSON")


def error_response(status: int, code: str, message: str) -> Response:
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def wants_json() -> bool:
    """API routes, Twilio webhooks and clients asking for JSON get JSON; browsers get pages
    (a websocket's refusal is a plain HTTP error: there is no page to show)."""
    if not has_request_context():
        return False
    if request.path.startswith(("/api/", "/twilio/")):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def register(app: Quart, *, refusals: tuple[type[Exception], ...] = ()) -> None:
    """JSON errors under /api/ and /twilio/ (and for clients asking for JSON), never an HTML
    traceback; pages get an HTML error page. `refusals` are the use cases' own errors that
    carry `status`, `code` and `message` as APIError does (flows know nothing of HTTP), so
    views let them through rather than each translating them."""

    async def _api_error(error: APIError) -> Response | tuple[str, int]:
        if wants_json():
            response = error_response(error.status, error.code, error.message)
            if error.status == 401:
                # RFC 9110: a 401 names the scheme that would work.
                response.headers["WWW-Authenticate"] = "Bearer"
            return response
        page = await render_template("error.html", status=error.status, message=error.message)
        return page, error.status

    for refused in (APIError, *refusals):
        app.register_error_handler(refused, _api_error)  # type: ignore[arg-type]

    @app.errorhandler(RequestSchemaValidationError)
    async def _validation_error(error: RequestSchemaValidationError) -> Response:
        return error_response(400, "invalid_request", str(error.validation_error))

    @app.errorhandler(HTTPException)
    async def _http_error(error: HTTPException) -> Response | HTTPException:
        if not wants_json():
            return error
        code = (error.name or "error").lower().replace(" ", "_")
        response = error_response(error.code or 500, code, error.description or code)
        # Keep what the exception says besides its HTML body: a 405's `Allow`, a 503's
        # `Retry-After`. Its Content-Type is the HTML page's, which this response replaces.
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers.add(name, value)
        return response

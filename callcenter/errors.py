"""One error type for the JSON API, rendered as `{"error": {"code", "message"}}`."""

from __future__ import annotations

from quart import Quart, Response, jsonify, render_template, request
from quart_schema import RequestSchemaValidationError
from werkzeug.exceptions import HTTPException


class APIError(Exception):
    """An error a client should see: an HTTP status, a stable code and a readable message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str) -> Response:
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def wants_json() -> bool:
    """API routes, Twilio webhooks and clients asking for JSON get JSON; browsers get pages."""
    if request.path.startswith(("/api/", "/twilio/")):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def register(app: Quart) -> None:
    """JSON errors under /api/ and /twilio/ (and for clients asking for JSON), never an HTML
    traceback; pages get an HTML error page."""

    @app.errorhandler(APIError)
    async def _api_error(error: APIError) -> Response | tuple[str, int]:
        if wants_json():
            return error_response(error.status, error.code, error.message)
        page = await render_template("error.html", status=error.status, message=error.message)
        return page, error.status

    @app.errorhandler(RequestSchemaValidationError)
    async def _validation_error(error: RequestSchemaValidationError) -> Response:
        return error_response(400, "invalid_request", str(error.validation_error))

    @app.errorhandler(HTTPException)
    async def _http_error(error: HTTPException) -> Response | HTTPException:
        if not wants_json():
            return error
        code = (error.name or "error").lower().replace(" ", "_")
        return error_response(error.code or 500, code, error.description or code)

"""What every Twilio webhook goes through: signature first, then parsing, then the handler.

A forged or unsigned request gets 403 and a malformed one 400, before any work is done.
Once a request is known to be Twilio's, the caller must always hear something sensible:
an exception in the handler is logged with the CallSid, the transaction is rolled back,
and Twilio gets safe TwiML (an apology and a polite goodbye), never a 500.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar

from quart import Response, current_app, g, request
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from callcenter.errors import APIError
from callcenter.http.context import db, settings
from callcenter.telephony import params

log = logging.getLogger("callcenter.telephony")
R = TypeVar("R")

REQUIRED_VOICE_PARAMS = ("CallSid", "AccountSid")


def public_url() -> str:
    """The URL Twilio signed: the configured public base plus the path and query we received.

    Behind a TLS-terminating proxy the app sees http://10.x/..., but Twilio signed
    https://support.example.com/...: only the configured public URL gives the same bytes.
    """
    query = request.query_string.decode()
    return settings().public_base_url + request.path + (f"?{query}" if query else "")


async def _read_body() -> bytes:
    """The body, refused (413) once it passes what any Twilio webhook could need: before
    reading it when Content-Length says so, while reading it when it does not."""
    if (request.content_length or 0) > params.MAX_BODY_BYTES:
        raise params.too_large()
    body = bytearray()
    async for chunk in request.body:
        body.extend(chunk)
        if len(body) > params.MAX_BODY_BYTES:
            raise params.too_large()
    return bytes(body)


async def verify_signature() -> dict[str, str]:
    """The request's parameters, once its X-Twilio-Signature proves it came from Twilio and
    its values have the shapes Twilio's have.

    The cheap refusals come first (no signature, a body too large, too many fields), so an
    attacker's bulk costs us no parsing or HMAC beyond a webhook's size.
    """
    signature = request.headers.get("X-Twilio-Signature")
    if not signature:
        log.warning("telephony.webhook.unsigned", extra={"path": request.path})
        raise APIError(403, "signature_missing", "the request has no X-Twilio-Signature")
    # Twilio signs POST parameters (all values of a repeated name); a GET only by its URL.
    form = params.parse_form(await _read_body()) if request.method == "POST" else {}
    validator = RequestValidator(settings().twilio_auth_token.get_secret_value())
    if not validator.validate(public_url(), form, signature):
        log.warning("telephony.webhook.forged", extra={"path": request.path})
        raise APIError(403, "signature_invalid", "the X-Twilio-Signature does not match")
    source = form if request.method == "POST" else request.args
    values = {name: source.get(name, "") for name in source}
    params.check(values, account_sid=settings().twilio_account_sid)
    params.check(request.args, account_sid=settings().twilio_account_sid)
    return values


def xml(response: VoiceResponse) -> Response:
    """TwiML as Twilio reads it: always a well-formed document, whatever reached it."""
    return Response(params.CONTROL.sub("", str(response)), content_type="application/xml")


def safe_twiml(message: str) -> VoiceResponse:
    """What a caller hears when our side fails: an apology and a clean end to the call."""
    response = VoiceResponse()
    response.say(f"{message} Please call again in a few minutes. Goodbye.")
    response.hangup()
    return response


async def _run_in_time(work: Awaitable[R]) -> R:
    """Run a handler within the webhook deadline, then commit; a slower handler (a lock held
    elsewhere, a pool with no free connection) fails like any other handler error.

    The commit stays outside the deadline: cancelled after the database took it, it would
    lose the follow-ups of a transaction that did happen. It waits on no lock by then (on
    SQLite the write lock is taken when the transaction begins, on PostgreSQL row locks
    are held already)."""
    async with asyncio.timeout(settings().webhook_deadline_seconds):
        result = await work
    await db().commit()
    return result


def _discard_unit_of_work() -> None:
    """Drop the failed request's transaction (its follow-ups go with it), without making
    Twilio wait: the rollback can be stuck behind the same lock that failed the handler."""
    session = g.pop("db_session", None)
    if session is not None:
        current_app.add_background_task(_close, session)


async def _close(session: Any) -> None:
    try:
        await session.rollback()
    finally:
        await session.close()


Handler = Callable[[dict[str, str]], Awaitable[VoiceResponse]]


def voice_webhook(
    *, on_failure: Callable[[], VoiceResponse]
) -> Callable[[Handler], Callable[..., Any]]:
    """Wrap a voice webhook handler: verify, parse, run, commit, and never fail the caller.

    The transaction commits here, inside the guard, so that a failed commit too ends in
    `on_failure`'s TwiML (an apology; in the wait loop, a pause) rather than a 500.
    """

    def decorator(handler: Handler) -> Callable[..., Awaitable[Response]]:
        @wraps(handler)
        async def view() -> Response:
            values = await verify_signature()
            missing = [name for name in REQUIRED_VOICE_PARAMS if not values.get(name)]
            if missing:
                raise APIError(400, "malformed_webhook", f"missing {', '.join(missing)}")
            try:
                twiml = await _run_in_time(handler(values))
            except APIError:
                raise
            except Exception:
                log.exception(
                    "telephony.webhook.failed",
                    extra={"path": request.path, "call_sid": values.get("CallSid")},
                )
                _discard_unit_of_work()
                return xml(on_failure())
            return xml(twiml)

        return view

    return decorator


def _status_callback(sid_name: str) -> Callable[[Callback], Callable[..., Any]]:
    """Wrap a status callback (its subject named by `sid_name`): verify, run, commit; 204
    on success so Twilio logs no 15003.

    A failure is logged with the SID (Twilio will not send the callback again; the
    worker's reconciliation is what recovers a call's) and answered 500.
    """

    def decorator(handler: Callback) -> Callable[..., Any]:
        @wraps(handler)
        async def view() -> Response:
            values = await verify_signature()
            if not values.get(sid_name):
                raise APIError(400, "malformed_webhook", f"missing {sid_name}")
            try:
                await _run_in_time(handler(values))
            except APIError:
                raise
            except Exception:
                log.exception(
                    "telephony.callback.failed",
                    extra={"path": request.path, "sid": values.get(sid_name)},
                )
                _discard_unit_of_work()
                return Response(status=500)
            return Response(status=204)

        return view

    return decorator


Callback = Callable[[dict[str, str]], Awaitable[None]]
callback_webhook = _status_callback("CallSid")
message_status_webhook = _status_callback("MessageSid")
_MESSAGE_SID = re.compile(r"(SM|MM)[0-9a-f]{32}")


def messaging_webhook(
    handler: Callable[[dict[str, str]], Awaitable[MessagingResponse]],
) -> Callable[..., Any]:
    """Wrap an incoming-message webhook: verify, run, commit, answer TwiML.

    A failure is logged and answered 500, not an empty reply: Twilio then tries the
    number's SmsFallbackUrl, so the text is not silently dropped.
    """

    @wraps(handler)
    async def view() -> Response:
        values = await verify_signature()
        if not _MESSAGE_SID.fullmatch(values.get("MessageSid", "")) or not values.get("From"):
            raise APIError(400, "malformed_webhook", "missing or malformed MessageSid or From")
        try:
            reply = await _run_in_time(handler(values))
        except APIError:
            raise
        except Exception:
            log.exception(
                "telephony.message.failed",
                extra={"path": request.path, "message_sid": values.get("MessageSid")},
            )
            _discard_unit_of_work()
            return Response(status=500)
        return Response(params.CONTROL.sub("", str(reply)), content_type="application/xml")

    return view

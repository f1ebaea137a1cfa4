"""Twilio's voice webhooks: the URLs an admin points a Twilio number at.

`/twilio/voice/incoming` is the number's Voice URL, `/twilio/voice/fallback` its fallback
and `/twilio/voice/status` its status callback; the rest are reached from our own TwiML.
Views only parse, call a flow and answer; follow-up REST work (offering calls to agents,
ending legs) runs after the transaction commits, without delaying Twilio's answer. One
exception: `/agent/answer` takes the caller out of the queue (a REST call) before it
answers, so the agent's conference is never joined by nobody.
"""

from __future__ import annotations

import logging

from quart import Blueprint, Response, request
from quart_schema import hide
from twilio.twiml.voice_response import VoiceResponse

from callcenter.errors import APIError
from callcenter.flows import Hangup, Telephony, callbacks, inbound, offers
from callcenter.http.context import after_commit, db, state
from callcenter.telephony.webhooks import (
    callback_webhook,
    safe_twiml,
    verify_signature,
    voice_webhook,
    xml,
)

log = logging.getLogger("callcenter.telephony")

bp = Blueprint("telephony", __name__, url_prefix="/twilio/voice")


def tel() -> Telephony:
    return state().telephony


def _apology() -> VoiceResponse:
    return safe_twiml(tel().flow.apology)


def _arg_int(name: str) -> int:
    try:
        return int(request.args.get(name, ""))
    except ValueError:
        raise APIError(400, "malformed_webhook", f"the {name} parameter must be a number") from None


def _version() -> int | None:
    """The IVR flow version the call is in, as its URLs carry it (absent on URLs made
    before flows were versioned)."""
    return _arg_int("v") if "v" in request.args else None


def _node() -> str:
    node = request.args.get("node", "")
    if not node:
        raise APIError(400, "malformed_webhook", "the node parameter is missing")
    return node


def _follow_up(hangups: list[Hangup], *, dispatch: bool = True) -> None:
    """After the commit: end legs that must not go on, and offer waiting tasks to agents
    (an agent may have been freed, or a caller may be waiting)."""
    for hangup in hangups:
        after_commit(offers.end_leg, tel(), hangup)
    if dispatch:
        after_commit(offers.dispatch, tel())


@bp.post("/incoming")
@hide
@voice_webhook(on_failure=_apology)
async def incoming(params: dict[str, str]) -> VoiceResponse:
    return await inbound.incoming_call(db(), tel(), params=params)


@bp.post("/ivr")
@hide
@voice_webhook(on_failure=_apology)
async def ivr(params: dict[str, str]) -> VoiceResponse:
    return await inbound.menu_choice(
        db(), tel(), params=params, node_id=_node(), attempt=_arg_int("attempt"),
        version=_version(),
    )


@bp.post("/queue/wait")
@hide
@voice_webhook(on_failure=inbound.keep_waiting)
async def queue_wait(params: dict[str, str]) -> VoiceResponse:
    response, hangups = await inbound.queue_wait(
        db(), tel(), params=params, node_id=_node(), version=_version()
    )
    _follow_up(hangups)
    return response


@bp.post("/queue/key")
@hide
@voice_webhook(on_failure=inbound.keep_waiting)
async def queue_key(params: dict[str, str]) -> VoiceResponse:
    return await inbound.queue_key(
        db(), tel(), params=params, node_id=_node(), version=_version()
    )


@bp.post("/queue/result")
@hide
@voice_webhook(on_failure=_apology)
async def queue_result(params: dict[str, str]) -> VoiceResponse:
    response, hangups = await inbound.queue_result(
        db(), tel(), params=params, node_id=_node(), version=_version()
    )
    _follow_up(hangups)
    return response


@bp.post("/voicemail")
@hide
@voice_webhook(on_failure=_apology)
async def voicemail(params: dict[str, str]) -> VoiceResponse:
    return await inbound.voicemail_recorded(
        db(), tel(), params=params, node_id=_node(), version=_version()
    )


@bp.post("/agent/answer")
@hide
@voice_webhook(on_failure=_apology)
async def agent_answer(params: dict[str, str]) -> VoiceResponse:
    return await offers.agent_answered(tel(), reservation_id=_arg_int("reservation"))


@bp.post("/caller/connect")
@hide
@voice_webhook(on_failure=_apology)
async def caller_connect(params: dict[str, str]) -> VoiceResponse:
    return await offers.caller_connected(db(), tel(), reservation_id=_arg_int("reservation"))


@bp.post("/status")
@hide
@callback_webhook
async def status(params: dict[str, str]) -> None:
    _follow_up(await inbound.call_status(db(), params=params))


@bp.post("/agent/status")
@hide
@callback_webhook
async def agent_status(params: dict[str, str]) -> None:
    outcome = await offers.agent_leg_status(
        db(), tel(), params=params, reservation_id=_arg_int("reservation")
    )
    _follow_up([outcome.hangup] if outcome.hangup else [], dispatch=outcome.dispatch)


@bp.post("/callback/connect")
@hide
@voice_webhook(on_failure=_apology)
async def callback_connect(params: dict[str, str]) -> VoiceResponse:
    return await callbacks.customer_answered(
        db(), tel(), reservation_id=_arg_int("reservation"), params=params
    )


@bp.post("/callback/status")
@hide
@callback_webhook
async def callback_status(params: dict[str, str]) -> None:
    hangups = await callbacks.customer_leg_status(
        db(), tel(), reservation_id=_arg_int("reservation"), params=params
    )
    _follow_up(hangups, dispatch=bool(hangups))


@bp.post("/recording/status")
@hide
@callback_webhook
async def recording_status(params: dict[str, str]) -> None:
    await inbound.recording_ready(db(), params=params)


@bp.post("/fallback")
@hide
async def fallback() -> Response:
    """Twilio comes here when our Voice URL failed: apologise and end the call cleanly."""
    params = await verify_signature()
    log.error(
        "telephony.webhook.fallback",
        extra={
            "call_sid": params.get("CallSid"),
            "error_code": params.get("ErrorCode"),
            "error_url": params.get("ErrorUrl"),
        },
    )
    return xml(_apology())

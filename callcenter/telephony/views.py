"""Twilio's voice webhooks: the URLs an admin points a Twilio number at.

`/twilio/voice/incoming` is the number's Voice URL, `/twilio/voice/fallback` its fallback
and `/twilio/voice/status` its status callback; the rest are reached from our own TwiML.
Views only parse, call a flow and answer; follow-up REST work runs after the response.
"""

from __future__ import annotations

import logging

from quart import Blueprint, Response, request
from quart_schema import hide
from twilio.twiml.voice_response import VoiceResponse

from callcenter import flows
from callcenter.errors import APIError
from callcenter.telephony.webhooks import (
    callback_webhook,
    safe_twiml,
    verify_signature,
    voice_webhook,
    xml,
)
from callcenter.web.context import after_commit, db, state

log = logging.getLogger("callcenter.telephony")

bp = Blueprint("telephony", __name__, url_prefix="/twilio/voice")


def tel() -> flows.Telephony:
    return state().telephony


def _apology() -> str:
    return tel().flow.apology


def _arg_int(name: str) -> int:
    try:
        return int(request.args.get(name, ""))
    except ValueError:
        raise APIError(400, "malformed_webhook", f"the {name} parameter must be a number") from None


def _node() -> str:
    """The flow node a URL names. One gone from the flow (edited mid-call) is handled by the
    flow functions, which start the caller over rather than drop them."""
    node = request.args.get("node", "")
    if not node:
        raise APIError(400, "malformed_webhook", "the node parameter is missing")
    return node


def _later_dispatch() -> None:
    after_commit(flows.dispatch, tel())


def _later_hang_up(agent_call_sid: str | None) -> None:
    if agent_call_sid:
        after_commit(_hang_up_agent, tel(), agent_call_sid)


async def _hang_up_agent(telephony: flows.Telephony, call_sid: str) -> None:
    try:
        await telephony.gateway.end_call(call_sid=call_sid, ringing=True)
    except flows.GatewayError:
        log.info("routing.offer.cancel_failed", extra={"agent_call_sid": call_sid})


@bp.post("/incoming")
@hide
@voice_webhook(apology=_apology)
async def incoming(params: dict[str, str]) -> VoiceResponse:
    return await flows.incoming_call(db(), tel(), params=params)


@bp.post("/ivr")
@hide
@voice_webhook(apology=_apology)
async def ivr(params: dict[str, str]) -> VoiceResponse:
    return await flows.menu_choice(
        db(), tel(), params=params, node_id=_node(), attempt=_arg_int("attempt")
    )


@bp.post("/queue/wait")
@hide
@voice_webhook(apology=_apology)
async def queue_wait(params: dict[str, str]) -> VoiceResponse:
    response = await flows.queue_wait(db(), tel(), params=params, node_id=_node())
    _later_dispatch()
    return response


@bp.post("/queue/result")
@hide
@voice_webhook(apology=_apology)
async def queue_result(params: dict[str, str]) -> VoiceResponse:
    response, cancel = await flows.queue_result(db(), tel(), params=params, node_id=_node())
    _later_hang_up(cancel)
    return response


@bp.post("/voicemail")
@hide
@voice_webhook(apology=_apology)
async def voicemail(params: dict[str, str]) -> VoiceResponse:
    return await flows.voicemail_recorded(db(), tel(), params=params, node_id=_node())


@bp.post("/agent/answer")
@hide
@voice_webhook(apology=_apology)
async def agent_answer(params: dict[str, str]) -> VoiceResponse:
    return await flows.agent_answered(tel(), reservation_id=_arg_int("reservation"))


@bp.post("/caller/connect")
@hide
@voice_webhook(apology=_apology)
async def caller_connect(params: dict[str, str]) -> VoiceResponse:
    return await flows.caller_connected(db(), tel(), reservation_id=_arg_int("reservation"))


@bp.post("/status")
@hide
@callback_webhook
async def status(params: dict[str, str]) -> None:
    _later_hang_up(await flows.call_status(db(), params=params))


@bp.post("/agent/status")
@hide
@callback_webhook
async def agent_status(params: dict[str, str]) -> None:
    if await flows.agent_leg_status(db(), params=params, reservation_id=_arg_int("reservation")):
        _later_dispatch()


@bp.post("/recording/status")
@hide
@callback_webhook
async def recording_status(params: dict[str, str]) -> None:
    await flows.recording_ready(db(), params=params)


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
    return xml(safe_twiml(_apology()))

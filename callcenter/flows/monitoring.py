"""Supervisors on a live call: listen (hear both sides, unheard), whisper (heard by the
agent only: Twilio's conference coaching) or barge (join the conversation).

The caller and the agent sit in the conference named after the caller's call, so the
supervisor's softphone is dialled into it as one more participant, muted to listen,
coaching the agent's leg to whisper, neither to barge. Leaving never ends the call.
"""

from __future__ import annotations

import enum
import logging

from callcenter.db import transaction
from callcenter.flows import Telephony, offers, work
from callcenter.routing import agents
from callcenter.telephony.gateway import GatewayError

log = logging.getLogger("callcenter.flows")


class Mode(enum.StrEnum):
    listen = "listen"
    whisper = "whisper"
    barge = "barge"


async def monitor(
    tel: Telephony, *, supervisor_identity: str, agent_id: int, mode: Mode
) -> str:
    """Ring the supervisor's softphone into the agent's live call in `mode`; the
    supervisor's leg's CallSid."""
    async with transaction(tel.sessionmaker) as session:
        if await agents.get_agent(session, agent_id=agent_id) is None:
            raise work.WorkError(404, "not_found", "There is no such agent.")
        try:
            reservation, call = await work.talking(session, agent_id=agent_id)
        except work.WorkError:
            raise work.WorkError(409, "not_on_a_call", "That agent is not on a call.") from None
        agent_leg, caller_sid, shown = reservation.agent_call_sid, call.sid, call.from_number
    try:
        conference = await tel.gateway.conference_sid(name=offers.room_of(caller_sid))
        if conference is None or agent_leg is None:
            raise GatewayError("the call's conference has ended")
        leg = await tel.gateway.add_participant(
            conference_sid=conference, to=f"client:{supervisor_identity}",
            caller_id=shown or tel.caller_id or "anonymous", muted=mode == Mode.listen,
            coach_call_sid=agent_leg if mode == Mode.whisper else None,
            label=f"supervisor-{mode.value}", ring_seconds=tel.agent_ring_seconds,
        )
    except GatewayError as error:
        raise work.WorkError(502, "twilio_failed", f"Twilio did not connect you: {error}") from None
    log.info("routing.monitor.started", extra={"agent_id": agent_id, "mode": mode.value})
    return leg

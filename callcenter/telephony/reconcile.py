"""Closing calls whose final status callback never arrived.

Twilio gives up on a status callback that fails, and a crash can lose one in flight; such a
call would stay "in progress" forever and never reach its ticket. The worker asks Twilio's
REST API about calls open for a long while and applies what it says, as a callback would.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter import flows
from callcenter.db import transaction, utcnow
from callcenter.telephony import service as calls
from callcenter.telephony.gateway import GatewayError, TwilioGateway

log = logging.getLogger("callcenter.telephony.reconcile")

# A sequence number above any Twilio sends for a call, so the reconciled status applies.
RECONCILED_SEQUENCE = 10_000


async def reconcile_stale_calls(
    sessionmaker: async_sessionmaker[AsyncSession],
    gateway: TwilioGateway,
    *,
    older_than: dt.timedelta,
) -> int:
    """Ask Twilio about calls open longer than `older_than` and land finished calls still
    waiting on a lost webhook; returns how many calls were closed."""
    async with transaction(sessionmaker) as session:
        stale = [
            call.sid
            for call in await calls.stale_calls(session, older_than=utcnow() - older_than)
        ]
    closed = 0
    for sid in stale:
        try:
            status, duration = await gateway.fetch_status(call_sid=sid)
        except GatewayError as error:
            log.warning("telephony.reconcile.failed", extra={"call_sid": sid, "code": error.code})
            continue
        parsed = calls.parse_status(status)
        if parsed is None or not parsed.is_final:
            continue
        params = {
            "CallSid": sid,
            "CallStatus": status,
            "SequenceNumber": str(RECONCILED_SEQUENCE),
            "CallbackSource": "reconciled",
        }
        if duration is not None:
            params["CallDuration"] = str(duration)
        async with transaction(sessionmaker) as session:
            await flows.call_status(session, params=params)
        closed += 1
        log.info("telephony.reconcile.closed", extra={"call_sid": sid, "status": status})
    async with transaction(sessionmaker) as session:
        for call in await calls.unlanded_calls(session, ended_before=utcnow() - older_than):
            await flows.land_on_ticket(session, call=call, force=True)
            log.info("telephony.reconcile.landed", extra={"call_sid": call.sid})
    return closed

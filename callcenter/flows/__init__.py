"""Use cases that span domains: a call from the first ring to the ticket it lands on.

- `inbound`: the caller's side (blocklist, IVR, the queue, voicemail, status callbacks);
- `offers`: the agent's side (offering waiting tasks, answering, the agent's leg);
- `escalation`: a waiting task moving through its queue's workflow;
- `callbacks`: calling back a caller who asked for it, keeping their place in line;
- `landing`: putting a finished call on its customer's ticket;
- `queues`: the IVR flow's queues as routing knows them (checked when the flow loads);
- `reconcile`: the worker's safety net for webhooks Twilio never delivered;
- `watchdog`: the worker's repairs of routing states nothing else would end.

Functions that talk to Twilio's REST API open their own short transactions and never
hold one across the REST call: Twilio may call us back before it answers, and that
request must not wait on our lock. Every flow that reads and then changes a call locks
the call's row first, then its task, then the task's reservations, always in that order.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.channels.email.sending import Mailroom
from callcenter.config import Settings
from callcenter.ivr import flow as ivr_flow
from callcenter.ivr.flow import Flow
from callcenter.jobs import JobQueue
from callcenter.telephony.gateway import GatewayError, TwilioGateway
from callcenter.telephony.urls import VoiceUrls


@dataclass
class Telephony:
    """What call flows need besides a session: the flow, our URLs, the REST gateway."""

    flow: Flow
    urls: VoiceUrls
    gateway: TwilioGateway
    sessionmaker: async_sessionmaker[AsyncSession]
    agent_ring_seconds: int = 20
    missed_offers_limit: int = 3
    callback_ring_seconds: int = 30
    callback_attempts: int = 3
    callback_retry_seconds: int = 120
    heartbeat_grace_seconds: int = 90
    # The caller id agents' phones show when the customer's own number cannot be used.
    caller_id: str | None = None
    # One dispatch pass at a time per process; a request for another while one runs is
    # folded into a rerun, so a burst of freed agents costs a few passes, not one each.
    dispatching: asyncio.Lock = field(default_factory=asyncio.Lock)
    dispatch_again: bool = False
    # Timers for the worker (an offer that must time out); None where nothing may queue.
    jobs: JobQueue | None = None
    # Where mail comes in and goes out (`flows.email`).
    mailroom: Mailroom | None = None


@dataclass(frozen=True)
class Hangup:
    """A call leg to end once the transaction has committed (ringing: cancel it)."""

    call_sid: str
    ringing: bool


def build_telephony(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    gateway: TwilioGateway,
    *,
    jobs: JobQueue | None = None,
) -> Telephony:
    """The call flows' surroundings for an app or a worker, from settings (loads the IVR flow)."""
    return Telephony(
        flow=ivr_flow.load(settings.ivr_flow_path),
        urls=VoiceUrls(settings.public_base_url),
        gateway=gateway,
        sessionmaker=sessionmaker,
        agent_ring_seconds=settings.agent_ring_seconds,
        missed_offers_limit=settings.missed_offers_limit,
        callback_ring_seconds=settings.callback_ring_seconds,
        callback_attempts=settings.callback_attempts,
        callback_retry_seconds=settings.callback_retry_seconds,
        heartbeat_grace_seconds=settings.heartbeat_grace_seconds,
        caller_id=settings.twilio_phone_number,
        jobs=jobs,
        mailroom=Mailroom.of(settings),
    )


async def end_leg(tel: Telephony, hangup: Hangup) -> None:
    """End a call leg through Twilio's REST API; failure is logged, never raised."""
    try:
        await tel.gateway.end_call(call_sid=hangup.call_sid, ringing=hangup.ringing)
    except GatewayError as error:
        logging.getLogger("callcenter.flows").warning(
            "routing.leg.end_failed", extra={"call_sid": hangup.call_sid, "code": error.code}
        )


def as_int(raw: str | None) -> int | None:
    """A numeric webhook parameter, or None when it is absent or not a number."""
    try:
        return int(raw) if raw not in (None, "") else None
    except ValueError:
        return None

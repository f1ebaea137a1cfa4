"""The watchdog: a periodic worker job that repairs routing states nothing else would end.

Each repair is logged (`routing.watchdog.repaired`, with what and why) and, for an agent,
written to the agent state log with the reason, so a supervisor can see what happened:

- an offer still ringing past any ring time (the instance that rang died, or Twilio's
  callback was lost): closed, the agent freed, the task offered on;
- an agent ringing or on a call whose call is over, as Twilio's REST API tells it: their
  offer closed as the lost callback would have; one with no open offer at all: idle;
- an agent whose wrap-up time ran out: idle, and the task they wrapped up completed;
- an available agent whose softphone page stopped sending heartbeats: offline;
- a caller still on the line after their agent left, with nobody else on the call (the
  hang-up meant to follow the agent's leaving was lost with the instance that owed it):
  hung up, as it would have been, rather than left alone in the conference.
"""

from __future__ import annotations

import datetime as dt
import logging

from callcenter.db import transaction, utcnow
from callcenter.flows import Hangup, Telephony, end_leg, offers
from callcenter.flows.reconcile import agent_leg_ended
from callcenter.routing import agents, tasks
from callcenter.routing.models import ReservationStatus
from callcenter.telephony import service as calls

log = logging.getLogger("callcenter.flows.watchdog")

SOFTPHONE_SILENT = "softphone stopped answering"
CALL_ENDED = "call ended, its callback lost"
# How long after their agent left a caller may still be on the line before the watchdog
# hangs up: the hang-up that follows the agent's leaving normally takes a second.
LEFT_ALONE_GRACE = dt.timedelta(seconds=15)
# How far back agents' leaving is looked at (the watchdog runs every minute).
LEFT_ALONE_LOOKBACK = dt.timedelta(hours=1)


def _repaired(what: str, **extra: object) -> None:
    log.warning("routing.watchdog.repaired", extra={"repair": what, **extra})


async def patrol(tel: Telephony) -> int:
    """One round of repairs; returns how many were made. Then it offers what waits, so a
    task whose own timer was lost (a callback now due, say) waits a minute at most."""
    repaired = await _stale_offers(tel)
    repaired += await _stuck_agents(tel)
    repaired += await _wrapups_over(tel)
    repaired += await _silent_softphones(tel)
    repaired += await _callers_left_alone(tel)
    await offers.dispatch(tel)
    return repaired


async def _stale_offers(tel: Telephony) -> int:
    now = utcnow()
    limit = dt.timedelta(seconds=tel.agent_ring_seconds) + offers.RING_GRACE
    async with transaction(tel.sessionmaker) as session:
        stale = [
            reservation.id
            for reservation in await tasks.stale_reservations(session, ringing_before=now - limit)
        ]
    count = 0
    for reservation_id in stale:
        if await offers.offer_timed_out(tel, reservation_id=reservation_id):
            _repaired("stale offer", reservation_id=reservation_id)
            count += 1
    return count


async def _stuck_agents(tel: Telephony) -> int:
    """Agents routing has ringing or talking: ask Twilio about their leg when there is one."""
    async with transaction(tel.sessionmaker) as session:
        busy = [agent.id for agent in await agents.busy_agents(session)]
    count = 0
    for agent_id in busy:
        async with transaction(tel.sessionmaker) as session:
            offered = await tasks.open_offers_of(session, agent_id=agent_id)
            legs = [(r.id, r.agent_call_sid) for r in offered if r.agent_call_sid]
            waiting = any(r.status == ReservationStatus.pending for r in offered)
            if not offered and await agents.repair(
                session, agent_id=agent_id, reason="no offer open"
            ):
                _repaired("agent with no offer", agent_id=agent_id)
                count += 1
                continue
        if waiting and not legs:
            continue  # being rung right now; a stale one is `_stale_offers`' to close
        for reservation_id, sid in legs:
            if await agent_leg_ended(
                tel, reservation_id=reservation_id, call_sid=sid,
                reason=f"watchdog: {CALL_ENDED}",
            ):
                _repaired("agent on an ended call", agent_id=agent_id, call_sid=sid)
                count += 1
    return count


async def _wrapups_over(tel: Telephony) -> int:
    async with transaction(tel.sessionmaker) as session:
        due = await agents.wrapups_over(session)
    ended = 0
    for agent_id in due:  # one transaction each: no lock held on one agent while taking another
        async with transaction(tel.sessionmaker) as session:
            if await offers.end_wrapup(session, agent_id=agent_id, only_if_due=True):
                _repaired("wrap-up over", agent_id=agent_id)
                ended += 1
    return ended


async def _silent_softphones(tel: Telephony) -> int:
    before = utcnow() - dt.timedelta(seconds=tel.heartbeat_grace_seconds)
    async with transaction(tel.sessionmaker) as session:
        silent = [
            agent_id
            for agent_id in await agents.silent_since(session, before=before)
            if await agents.go_offline(session, agent_id=agent_id, reason=SOFTPHONE_SILENT)
        ]
    for agent_id in silent:
        _repaired("softphone silent", agent_id=agent_id)
    return len(silent)


async def _callers_left_alone(tel: Telephony) -> int:
    now = utcnow()
    async with transaction(tel.sessionmaker) as session:
        left = await tasks.calls_left_by_agents(
            session, ended_after=now - LEFT_ALONE_LOOKBACK, ended_before=now - LEFT_ALONE_GRACE
        )
        sids = await calls.live_sids(session, call_ids=left)
    for sid in sids:
        await end_leg(tel, Hangup(sid, ringing=False))
        _repaired("caller left alone", call_sid=sid)
    return len(sids)

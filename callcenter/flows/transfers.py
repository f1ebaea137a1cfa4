"""Transfers: an agent hands their caller to a colleague or a queue, cold or warm.

The caller sits in the conference named after their call, so a transfer never moves
them: it puts them on hold there (they hear hold music), makes a new task for the call
(TaskRouter's way: the old one wraps up with its agent) and brings the next agent into
the same conference. A cold transfer to a queue puts that task in the queue's line, where
the dispatch pass offers it like any other; to an agent, it rings that agent at once.
Either way the first agent leaves at once, and the caller comes off hold when the new
agent answers. A warm transfer rings the colleague while the first agent stays: the two
talk with the caller on hold, then the first agent completes it (leaves, the caller comes
off hold) or cancels it (the colleague's leg ends, the caller comes back to them).

An agent leaving never hangs up a caller whom a colleague has, or who waits for one
(`offers._call_over`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from callcenter import unit_of_work
from callcenter.db import transaction
from callcenter.flows import Hangup, Telephony, end_leg, offers, work
from callcenter.routing import agents, queues, tasks
from callcenter.routing.models import Reservation, Task, TaskStatus
from callcenter.telephony.gateway import GatewayError
from callcenter.telephony.models import Call

log = logging.getLogger("callcenter.flows")


@dataclass(frozen=True)
class Target:
    """Whom a call goes to: one agent, or a queue's line."""

    agent_id: int | None = None
    queue_id: int | None = None


async def start(
    tel: Telephony, *, agent_id: int, target: Target, warm: bool
) -> work.Work | None:
    """Transfer the agent's caller to `target`; warm: consult the colleague first."""
    if warm and target.agent_id is None:
        raise work.WorkError(400, "warm_needs_an_agent", "A warm transfer goes to one agent.")
    ring: offers.Ring | None = None
    async with transaction(tel.sessionmaker) as session:
        reservation, call = await work.talking(session, agent_id=agent_id)
        task = await tasks.get_task(session, task_id=reservation.task_id, lock=True)
        assert task is not None
        if await tasks.waiting_for_agent(session, call_id=call.id) or await (
            tasks.another_agent_on(session, call_id=call.id, besides=reservation.id)
        ):
            raise work.WorkError(
                409, "transfer_under_way", "This call is already being transferred."
            )
        queue = await queues.get_queue(session, queue_id=target.queue_id or task.queue_id or 0)
        if queue is None:
            raise work.WorkError(404, "not_found", "There is no such queue.")
        attributes = {
            **(task.attributes or {}), "conference": offers.room_of(call.sid),
            "transferred_from": reservation.id, "consult": warm,
        }
        moved = await tasks.create_task(
            session, channel=task.channel, queue=queue, priority=task.priority,
            attributes=attributes, call_id=call.id,
        )
        if target.agent_id is not None:
            colleague = await agents.get_agent(session, agent_id=target.agent_id)
            if colleague is None or colleague.id == agent_id:
                raise work.WorkError(404, "not_found", "There is no such colleague.")
            if not await agents.claim(session, agent_id=colleague.id, task_id=moved.id):
                raise work.WorkError(409, "agent_busy", "That colleague is not free right now.")
            offer = await tasks.create_reservation(session, task=moved, agent_id=colleague.id)
            ring = offers.Ring(offer.id, colleague.client_identity, call.from_number)
        task.attributes = {**(task.attributes or {}), "transfer_task": moved.id}
        if warm:
            tasks.set_hold(reservation, on=True)
        caller_sid, own_leg = call.sid, reservation.agent_call_sid
        work.changed(session, agent_id)
        log.info("routing.transfer.started", extra={
            "reservation_id": reservation.id, "task_id": moved.id, "warm": warm,
            "to_agent": target.agent_id, "to_queue": queue.id,
        })
        moved_id = moved.id
    try:
        await offers.set_caller_hold(tel, caller_sid, True)
        conference = await tel.gateway.conference_sid(name=offers.room_of(caller_sid))
        if conference is None or own_leg is None:
            raise GatewayError("the call's conference has ended")
        # Leaving no longer ends the conference: the caller stays for the next agent.
        await tel.gateway.update_participant(
            conference_sid=conference, call_sid=own_leg, end_conference_on_exit=False
        )
    except GatewayError as error:
        await _undo(tel, task_id=moved_id, caller_sid=caller_sid)
        raise work.WorkError(
            502, "twilio_failed", f"Twilio did not transfer the call: {error}"
        ) from None
    if not warm and own_leg is not None:
        await end_leg(tel, Hangup(own_leg, ringing=False))
    if ring is not None:
        await offers.ring(tel, ring)
    else:
        await offers.dispatch(tel)
    return await work.read(tel, agent_id=agent_id)


async def _undo(tel: Telephony, *, task_id: int, caller_sid: str) -> None:
    """Twilio refused the transfer: the new task is canceled, its agent freed, the caller
    taken off hold."""
    async with transaction(tel.sessionmaker) as session:
        moved = await tasks.get_task(session, task_id=task_id, lock=True)
        if moved is not None:
            await offers.cancel_task(
                session, moved, reason="transfer canceled", end_answered=True
            )
    try:
        await offers.set_caller_hold(tel, caller_sid, False)
    except GatewayError:
        log.warning("routing.transfer.unhold_failed", extra={"call_sid": caller_sid})


async def _consultation(
    session: AsyncSession, agent_id: int
) -> tuple[Reservation, Call, Task]:
    """The agent's call and the warm transfer of it under way (locked), or a 409."""
    reservation, call = await work.talking(session, agent_id=agent_id)
    task = await tasks.get_task(session, task_id=reservation.task_id)
    moved_id = (task.attributes or {}).get("transfer_task") if task else None
    moved = await tasks.get_task(session, task_id=moved_id, lock=True) if moved_id else None
    if (
        moved is None
        or not (moved.attributes or {}).get("consult")
        or (moved.attributes or {}).get("consult_canceled")
        or not moved.status.is_open
    ):
        raise work.WorkError(409, "no_transfer", "No warm transfer of this call is under way.")
    return reservation, call, moved


async def complete(tel: Telephony, *, agent_id: int) -> work.Work | None:
    """The consulted colleague has the caller now: the first agent leaves (into wrap-up),
    and the caller comes off hold (`offers._call_over`, as the agent's leg ends)."""
    async with transaction(tel.sessionmaker) as session:
        reservation, _call, moved = await _consultation(session, agent_id)
        if moved.status != TaskStatus.assigned:
            raise work.WorkError(409, "not_answered", "Your colleague has not answered yet.")
        own_leg = reservation.agent_call_sid
    if own_leg:
        await end_leg(tel, Hangup(own_leg, ringing=False))
    return await work.read(tel, agent_id=agent_id)


async def cancel(tel: Telephony, *, agent_id: int) -> work.Work | None:
    """Call the consultation off: the colleague's phone stops (or their leg ends) and the
    caller comes back to the first agent, off hold."""
    async with transaction(tel.sessionmaker) as session:
        reservation, call, moved = await _consultation(session, agent_id)
        legs = await offers.cancel_task(
            session, moved, reason="transfer canceled", end_answered=True
        )
        moved.attributes = {**(moved.attributes or {}), "consult_canceled": True}
        tasks.set_hold(reservation, on=False)  # the caller is back with them
        caller_sid = call.sid
        work.changed(session, agent_id)
        for leg in legs:
            unit_of_work.after_commit(session, end_leg, tel, leg)
    try:
        await offers.set_caller_hold(tel, caller_sid, False)
    except GatewayError as error:
        raise work.WorkError(
            502, "twilio_failed", f"Twilio did not take the caller off hold: {error}"
        ) from None
    return await work.read(tel, agent_id=agent_id)

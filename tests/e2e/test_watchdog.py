"""The watchdog's repair that needs Twilio: an agent routing has ringing or on a call whose
leg, as Twilio's REST API tells it, has ended (its status callback was lost). The watchdog
asks, closes the offer as the lost callback would have, frees the agent, lands the call on
its ticket and offers the freed agent to whoever waits.

The other repairs (a stale offer, an agent busy with no offer, a wrap-up run out, a silent
softphone) need no Twilio and are in `tests/flows/test_watchdog.py`.
"""

from __future__ import annotations

from typing import Any

import pytest
from quart import Quart

from callcenter.flows import offers, watchdog
from callcenter.routing.models import ReservationStatus, RoutingState, TaskStatus
from callcenter.telephony.models import Outcome
from e2e.conftest import Centre
from e2e.test_routing import SUPPORT, eventually, in_state, waiting_task

_real_leg_status = offers.agent_leg_status


class LostCallbacks:
    """Twilio's status callbacks for agents' legs with these statuses never reach the app
    (the watchdog's own, reconciled ones do), until `stop()`. `lost`: the legs concerned."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *statuses: str) -> None:
        self.statuses = set(statuses)
        self.lost: list[str] = []
        monkeypatch.setattr(offers, "agent_leg_status", self._lossy)

    async def _lossy(
        self,
        session: Any,
        tel: Any,
        *,
        params: dict[str, str],
        reservation_id: int,
        reason: str | None = None,
    ) -> offers.LegOutcome:
        status, source = params.get("CallStatus"), params.get("CallbackSource")
        if status in self.statuses and source != "reconciled":
            self.lost.append(params["CallSid"])
            return offers.LegOutcome()
        return await _real_leg_status(
            session, tel, params=params, reservation_id=reservation_id, reason=reason
        )

    def stop(self) -> None:
        self.statuses.clear()

    async def happened(self, what: str) -> None:
        async def check() -> bool:
            return bool(self.lost)

        await eventually(check, what=what)


async def test_an_agent_on_a_call_that_ended_unheard_is_freed_for_the_next_caller(
    centre: Centre, app: Quart, monkeypatch: pytest.MonkeyPatch
):
    lost = LostCallbacks(monkeypatch, "completed")
    tel = app.extensions["callcenter"].telephony
    agent = await centre.add_agent(talk_seconds=20)
    agent_id, user_id, phone = agent.id, agent.user_id, centre.phones[-1]

    first = await centre.call(SUPPORT)
    assert first["status"] == "completed"
    await lost.happened("the agent's hang-up, lost on its way")
    stuck = await centre.agent(agent_id)
    assert stuck.routing_state == RoutingState.on_call
    await centre.db.commit()
    # Meanwhile a caller waits for the only agent, who is "on a call" for ever.
    second = await centre.dial(SUPPORT, from_="+14155550190")
    await waiting_task(centre, second)
    assert len(phone.offers) == 1
    lost.stop()  # the next call's callbacks arrive

    assert await watchdog.patrol(tel) == 1
    call = await centre.settled(first["sid"])
    assert call.outcome == Outcome.answered and call.agent_user_id == user_id
    event = await centre.ticket_event(call)
    assert event is not None and "answered by" in event.body and "talked 2" in event.body
    task, _ = await centre.task(call)
    assert (task.status, task.reason) == (TaskStatus.completed, "answered")
    assert [r.status for r in await centre.reservations(task.id)] == [ReservationStatus.completed]
    freed = await centre.agent(agent_id)
    assert freed.calls_today == 1 and 18 <= freed.talk_seconds_today <= 22

    report = await centre.control.wait_for_call(second, timeout=60)
    answered = await centre.settled(report["sid"])
    assert answered.outcome == Outcome.answered and answered.agent_user_id == user_id
    assert len(phone.offers) == 2
    assert await watchdog.patrol(tel) == 0, "nothing left to repair"


async def test_an_agent_ringing_for_an_offer_that_rang_out_unheard_is_freed(
    centre: Centre, app: Quart, monkeypatch: pytest.MonkeyPatch
):
    """The agent's phone rang out, but Twilio's word on it was lost: routing still has them
    ringing and the caller waiting for them. The watchdog asks Twilio, counts the miss and
    offers the caller to the next agent."""
    lost = LostCallbacks(monkeypatch, "no-answer")
    tel = app.extensions["callcenter"].telephony
    absent_id = (await centre.add_agent(mode="ignore")).id
    sid = await centre.dial(SUPPORT)
    await lost.happened("the agent's phone ringing out, lost on its way")
    assert (await centre.agent(absent_id)).routing_state == RoutingState.ringing
    taker = await centre.add_agent(talk_seconds=10)  # arrives now: free, but the caller
    taker_user = taker.user_id                       # is reserved for the absent agent

    assert await watchdog.patrol(tel) >= 1
    report = await centre.control.wait_for_call(sid, timeout=60)
    call = await centre.settled(report["sid"])
    assert call.outcome == Outcome.answered and call.agent_user_id == taker_user
    task, _ = await centre.task(call)
    assert [r.status for r in await centre.reservations(task.id)] == [
        ReservationStatus.timeout, ReservationStatus.completed,
    ]
    missed = await in_state(centre, absent_id, RoutingState.idle)
    assert missed.missed_offers == 1




async def test_freeing_an_agent_on_an_ended_call_is_logged_with_the_watchdogs_reason(
    centre: Centre, app: Quart, monkeypatch: pytest.MonkeyPatch
):
    LostCallbacks(monkeypatch, "completed")
    tel = app.extensions["callcenter"].telephony
    agent_id = (await centre.add_agent(talk_seconds=20)).id
    await centre.call(SUPPORT)
    await in_state(centre, agent_id, RoutingState.on_call)
    before = len(await centre.state_log(agent_id))

    assert await watchdog.patrol(tel) == 1
    repairs = (await centre.state_log(agent_id))[before:]
    assert repairs, "the repair changed the agent's state"
    assert all(reason and reason.startswith("watchdog:") for _k, _s, reason in repairs), repairs

"""The worker's safety net: a call whose final status callback never reached us is closed
from Twilio's REST API and lands on its ticket all the same."""

from __future__ import annotations

import datetime as dt

from quart import Quart

from callcenter.config import Settings
from callcenter.flows.reconcile import reconcile
from callcenter.telephony import service as calls
from callcenter.telephony.models import CallStatus, Outcome
from callcenter.worker import reconcile_calls
from e2e.conftest import SUPPORT_NUMBER, Centre


async def test_lost_status_callback_is_recovered_by_the_worker(
    centre: Centre, settings: Settings
):
    # Twilio's callbacks for this number go to a URL that does not exist: all are lost.
    await centre.control.provision_number(
        SUPPORT_NUMBER, status_callback=f"{centre.app_url}/nowhere"
    )
    await centre.add_agent(talk_seconds=20)
    report = await centre.call([{"press": "2"}])
    assert report["status"] == "completed"
    await centre.db.rollback()
    call = await calls.get_by_sid(centre.db, sid=report["sid"])
    assert call is not None and not call.status.is_final, "the app never heard the end"
    sid = call.sid

    # The worker's own entry point: its own engine and REST client, as `callcenter worker`.
    assert await reconcile_calls(settings, older_than=dt.timedelta(0)) >= 1

    call = await centre.settled(sid)
    assert call.status == CallStatus.completed
    assert call.outcome == Outcome.answered
    event = await centre.ticket_event(call)
    assert event is not None and "answered by" in event.body


async def test_agent_left_busy_by_a_lost_callback_is_freed_by_the_worker(
    centre: Centre, app: Quart
):
    """An answered offer whose agent leg ended without our hearing of it: the worker asks
    Twilio, closes the offer and frees the agent, who would otherwise stay busy forever."""
    from builders import make_offer, waiting_call
    from conftest import TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN
    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.rest import Client

    from callcenter.routing import agents, tasks
    from callcenter.routing.models import ReservationStatus, RoutingState

    # A real leg in the emulator that has already ended.
    http = AsyncTwilioHttpClient()
    twilio = Client(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, http_client=http)
    twilio.api.base_url = centre.emulator_url
    leg = await twilio.calls.create_async(
        to="+14155550123", from_=SUPPORT_NUMBER, twiml="<Response><Hangup/></Response>"
    )
    await centre.control.wait_for_call(leg.sid)
    await http.session.close()

    agent = await centre.add_agent()
    call, task = await waiting_call(centre.db, sid="CA" + "5" * 32)
    reservation = await make_offer(centre.db, task=task, agent=agent)
    tasks.accept(reservation, task)
    reservation.agent_call_sid = leg.sid
    await agents.answered(centre.db, agent_id=agent.id, task_id=task.id)
    # They talked: the caller left the queue and reached the agent's conference.
    task.queue_result = "redirected"
    calls.mark_connected(call, agent_user_id=agent.user_id)
    await centre.db.commit()
    reservation_id, agent_id = reservation.id, agent.id

    tel = app.extensions["callcenter"].telephony
    await reconcile(tel, older_than=dt.timedelta(0))

    centre.db.expire_all()
    reservation = await tasks.get_reservation(centre.db, reservation_id=reservation_id)
    agent = await agents.get_agent(centre.db, agent_id=agent_id)
    assert reservation is not None and reservation.status == ReservationStatus.completed
    assert agent is not None and agent.routing_state == RoutingState.idle

"""The worker's safety net: a call whose final status callback never reached us is closed
from Twilio's REST API and lands on its ticket all the same."""

from __future__ import annotations

import datetime as dt

from quart import Quart

from callcenter.flows.reconcile import reconcile
from callcenter.telephony import service as calls
from callcenter.telephony.models import CallStatus, Outcome
from e2e.conftest import SUPPORT_NUMBER, Centre


async def test_lost_status_callback_is_recovered_by_the_worker(centre: Centre, app: Quart):
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

    tel = app.extensions["callcenter"].telephony
    assert await reconcile(tel, older_than=dt.timedelta(0)) >= 1

    call = await centre.settled(sid)
    assert call.status == CallStatus.completed
    assert call.outcome == Outcome.answered
    event = await centre.ticket_event(call)
    assert event is not None and "answered by" in event.body

"""Conference coaching (Coaching + CallSidToCoach) and participant removal via twilio-python."""

from __future__ import annotations

import pytest
from twilio.base.exceptions import TwilioRestException

from .conftest import CALLER, NUMBER, until
from .target import twiml


async def test_coaching_and_participant_delete(emu, twilio, target, client):
    target.on("/voice", twiml('<Dial><Conference statusCallback="/conf" '
                              'statusCallbackEvent="join leave modify end">support-1'
                              "</Conference></Dial>"))
    target.on("/conf", "")
    await client.provision_number(NUMBER, voice_url=target.url("/voice"))

    def events(name):
        return [h.params for h in target.at("/conf")
                if h.params["StatusCallbackEvent"] == name]

    # Hold the virtual clock: nothing jumps ahead while the test looks; move it by hand.
    with emu.engine.clock.busy():
        customer = await client.place_call(CALLER, NUMBER)
        await until(lambda: emu.engine.conferences.by_sid)
        conf = next(iter(emu.engine.conferences.by_sid.values()))
        parts = twilio.conferences(conf.sid).participants
        agent = await parts.create_async(from_=NUMBER, to="+14155550170", label="agent")
        supervisor = await parts.create_async(from_=NUMBER, to="+14155550171",
                                              coaching=True, call_sid_to_coach=agent.call_sid)
        assert supervisor.coaching is True and supervisor.call_sid_to_coach == agent.call_sid
        await emu.engine.clock.advance(2)
        await until(lambda: len(conf.participants) == 3 and all(
            p.status == "connected" for p in conf.participants.values()))

        fetched = await parts(supervisor.call_sid).fetch_async()
        assert fetched.coaching is True and fetched.call_sid_to_coach == agent.call_sid
        # The status callbacks are posted as the participants join, each on its own time.
        await until(lambda: {agent.call_sid, supervisor.call_sid}
                    <= {e["CallSid"] for e in events("participant-join")})
        joined = {e["CallSid"]: e for e in events("participant-join")}
        assert joined[supervisor.call_sid]["Coaching"] == "true"
        assert joined[supervisor.call_sid]["CallSidToCoach"] == agent.call_sid
        assert joined[agent.call_sid]["Coaching"] == "false"

        # Coaching=true needs CallSidToCoach; the coached call must be in the conference.
        with pytest.raises(TwilioRestException) as err:
            await parts(supervisor.call_sid).update_async(coaching=True)
        assert err.value.status == 400
        with pytest.raises(TwilioRestException) as err:
            await parts(supervisor.call_sid).update_async(call_sid_to_coach="CA" + "9" * 32)
        assert err.value.status == 400

        stopped = await parts(supervisor.call_sid).update_async(coaching=False)
        assert stopped.coaching is False and stopped.call_sid_to_coach is None
        # CallSidToCoach alone implies Coaching=true.
        again = await parts(supervisor.call_sid).update_async(call_sid_to_coach=customer)
        assert again.coaching is True and again.call_sid_to_coach == customer
        await until(lambda: len(events("participant-modify")) == 2)
        modified = events("participant-modify")
        assert [m["Coaching"] for m in modified] == ["false", "true"]
        assert modified[1]["CallSidToCoach"] == customer

        # Remove the agent: 204 (twilio-python returns True), gone from the list, leave event.
        assert await parts(agent.call_sid).delete_async() is True
        await until(lambda: agent.call_sid not in conf.participants)
        listed = await parts.list_async()
        assert {p.call_sid for p in listed} == {customer, supervisor.call_sid}
        await until(lambda: any(e["CallSid"] == agent.call_sid
                                 for e in events("participant-leave")))
        with pytest.raises(TwilioRestException) as err:
            await parts(agent.call_sid).fetch_async()
        assert err.value.status == 404 and err.value.code == 20404
        # The removed call continues after its <Dial>: here the document ends, so it hangs up.
        agent_report = await client.wait_for_call(agent.call_sid, timeout=5)
        assert agent_report["status"] == "completed"
        await twilio.conferences(conf.sid).update_async(status="completed")
    await client.wait_for_call(customer)
    await until(lambda: events("conference-end"))

"""Whole calls: the app on a live server, the Twilio emulator on another, real HTTP between.

The emulator runs on a virtual clock, so queue waits and talk time cost no real seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from builders import make_user
from conftest import TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.config import Settings
from callcenter.routing import agents as routing
from callcenter.routing import queues, tasks
from callcenter.routing.models import Activity, Agent, AgentStateLog, Reservation, Task
from callcenter.telephony.models import Call, Outcome
from callcenter.tickets.models import TicketEvent
from twilio_emulator import AgentPhone, Emulator, EmulatorClient

SUPPORT_NUMBER = "+15005550006"
# The API Key the app signs softphone tokens with (and calls the REST API with), as a
# deployment has one.
API_KEY_SID, API_KEY_SECRET = "SK" + "e2" * 16, "an-api-key-secret-of-32-bytes-or-more"


@pytest.fixture
async def emulator(request: pytest.FixtureRequest) -> AsyncIterator[Emulator]:
    """The emulator, on the virtual clock unless the test module sets EMULATOR_CLOCK."""
    clock = getattr(request.module, "EMULATOR_CLOCK", "virtual")
    emu = Emulator(account_sid=TWILIO_ACCOUNT_SID, auth_token=TWILIO_AUTH_TOKEN, clock=clock,
                   api_keys={API_KEY_SID: API_KEY_SECRET})
    emu.base_url = await emu.start()  # type: ignore[attr-defined]
    try:
        yield emu
    finally:
        await emu.stop()


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any], emulator: Emulator) -> dict[str, Any]:
    """What the test asks for (`@pytest.mark.settings(...)`), with Twilio's API pointed at
    the emulator and an API Key of its account."""
    return {
        "twilio_api_key_sid": API_KEY_SID, "twilio_api_key_secret": API_KEY_SECRET,
        **settings_overrides, "twilio_api_base_url": emulator.base_url,  # type: ignore[attr-defined]
    }


@dataclass
class Centre:
    """The contact centre under test, seen from outside: callers, agents' phones, the store."""

    emulator_url: str
    app_url: str
    control: EmulatorClient
    db: AsyncSession
    phones: list[AgentPhone] = field(default_factory=list)

    async def add_agent(
        self,
        *,
        mode: str = "accept",
        talk_seconds: float | None = 60,
        answer_delay: float = 2.0,
        skills: dict[str, int] | None = None,
        languages: list[str] | None = None,
    ) -> Agent:
        """A signed-in agent whose softphone bot answers (or not) as told."""
        user = await make_user(self.db)
        agent = await routing.agent_for_user(self.db, user=user)
        if skills is not None or languages is not None:
            await routing.update_profile(self.db, agent=agent, skills=skills, languages=languages)
        await routing.set_activity(self.db, agent=agent, activity=Activity.available)
        await self.db.commit()
        phone = AgentPhone(
            self.emulator_url,
            identity=agent.client_identity,
            mode=mode,
            answer_delay=answer_delay,
            talk_seconds=talk_seconds,
        )
        await phone.connect()
        self.phones.append(phone)
        return agent

    async def call(
        self,
        script: list[dict[str, Any]],
        *,
        from_: str = "+14155550100",
        hangup_after: float | None = None,
    ) -> dict[str, Any]:
        """Place a call and return the emulator's report once it has ended."""
        sid = await self.control.place_call(
            from_=from_, to=SUPPORT_NUMBER, script=script, hangup_after=hangup_after
        )
        return await self.control.wait_for_call(sid, timeout=60)

    async def settled(self, sid: str, *, within: float = 30) -> Call:
        """The app's record of the call once it has ended and (unless blocked) been landed
        on a ticket: what an agent looking at the ticket would see."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            await self.db.rollback()  # a fresh snapshot: SQLite's WAL keeps one per transaction
            call = await self.db.scalar(
                select(Call).where(Call.sid == sid).execution_options(populate_existing=True)
            )
            final = call is not None and call.status.is_final
            if final and (
                call.outcome == Outcome.blocked or await self.ticket_event(call) is not None
            ):
                return call
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"call {sid} never settled in the app: {call and call.status}")
            await asyncio.sleep(0.05)

    async def task(self, call: Call) -> tuple[Task, str | None]:
        """The call's routing task and the name of the queue it ended in."""
        task = await tasks.voice_task(self.db, call_id=call.id)
        assert task is not None, "the caller never reached a queue"
        await self.db.refresh(task)
        queue = await queues.get_queue(self.db, queue_id=task.queue_id) if task.queue_id else None
        return task, queue.name if queue else None

    async def ticket_event(self, call: Call) -> TicketEvent | None:
        return await self.db.scalar(
            select(TicketEvent)
            .where(TicketEvent.call_id == call.id)
            .execution_options(populate_existing=True)
        )

    async def dial(
        self, script: list[dict[str, Any]], *, from_: str = "+14155550100"
    ) -> str:
        """Place a call and return its sid at once (`call` waits for its end)."""
        return await self.control.place_call(from_=from_, to=SUPPORT_NUMBER, script=script)

    async def _snapshot(self) -> None:
        """A fresh snapshot for the next read (SQLite's WAL keeps one per transaction),
        ending the transaction with a commit: a rollback would expire every loaded object."""
        await self.db.commit()

    async def agent(self, agent_id: int) -> Agent:
        """The agent as the app has them now (a fresh snapshot)."""
        await self._snapshot()
        agent = await self.db.get(Agent, agent_id, populate_existing=True)
        assert agent is not None
        return agent

    async def state_log(self, agent_id: int) -> list[tuple[str, str, str | None]]:
        """The agent's state log, oldest first: (kind, state, reason) as a supervisor sees it."""
        await self._snapshot()
        rows = await self.db.scalars(
            select(AgentStateLog)
            .where(AgentStateLog.agent_id == agent_id)
            .order_by(AgentStateLog.id)
        )
        return [(row.kind, row.state, row.reason) for row in rows]

    async def reservations(self, task_id: int) -> list[Reservation]:
        """Every offer made of a task, in the order they were made."""
        await self._snapshot()
        rows = await self.db.scalars(
            select(Reservation)
            .where(Reservation.task_id == task_id)
            .order_by(Reservation.id)
            .execution_options(populate_existing=True)
        )
        return list(rows)

    async def emulator_calls(self) -> list[dict[str, Any]]:
        """The emulator's report of every call it has seen (inbound, agent legs, callbacks)."""
        async with aiohttp.ClientSession() as http, http.get(
            f"{self.emulator_url}/_emulator/calls"
        ) as response:
            return list(await response.json())


@pytest.fixture
async def centre(
    emulator: Emulator, live_server: str, settings: Settings, db_session: AsyncSession
) -> AsyncIterator[Centre]:
    control = EmulatorClient(emulator.base_url, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)  # type: ignore[attr-defined]
    await control.provision_number(
        SUPPORT_NUMBER,
        voice_url=f"{live_server}/twilio/voice/incoming",
        voice_fallback_url=f"{live_server}/twilio/voice/fallback",
        status_callback=f"{live_server}/twilio/voice/status",
    )
    centre = Centre(emulator.base_url, live_server, control, db_session)  # type: ignore[attr-defined]
    try:
        yield centre
    finally:
        for phone in centre.phones:
            await phone.close()
        await control.close()

"""The agent's own page, `/agent`: their softphone (the offer ringing with the caller's
tickets, the call's controls, the wrap-up form), their activity and routing state, and
the heartbeat that tells routing the page is open.

The page changes things through the agents API (`/api/agents/me/...`, with the session's
CSRF token) and hears about its own agent on `/agent/events`: server-sent events carrying
the agent's state, work and chats, once at connection (its resync) and after every change of
them, wherever it happened (a call offered, a wrap-up timer, the watchdog, another
instance). An agent hears only about themselves. The phone itself is Twilio's Voice SDK
`Device`, or the bundled emulator's browser phone behind the same interface.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from quart import Blueprint, Response, render_template
from quart_schema import hide
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.accounts.auth import current_user, require_role
from callcenter.accounts.models import Role
from callcenter.db import transaction
from callcenter.events import Event
from callcenter.flows import Telephony, chat, work
from callcenter.http import streams
from callcenter.http.context import db, settings, state
from callcenter.routing import agents, chats, dispositions
from callcenter.routing.models import Agent
from callcenter.routing.schemas import my_work
from callcenter.telephony import tokens
from callcenter.tickets.models import TicketStatus

bp = Blueprint("softphone", __name__)


async def _state(session: AsyncSession, tel: Telephony, agent: Agent) -> dict[str, Any]:
    found = await work.current(session, tel, agent=agent)
    return {
        "activity": agent.activity.value,
        "break_reason": agent.break_reason,
        "activity_changed_at": agent.activity_changed_at.isoformat(),
        "routing_state": agent.routing_state.value,
        "routing_state_changed_at": agent.routing_state_changed_at.isoformat(),
        "wrapup_until": agent.wrapup_until.isoformat() if agent.wrapup_until else None,
        "work": my_work(found).model_dump(mode="json")["work"],
        "chats": await chat.chats_of(session, agent_id=agent.id),
    }


async def _mine() -> Agent:
    user = current_user()
    assert user is not None
    return await agents.agent_for_user(db(), user=user)


@bp.get("/agent")
@hide
@require_role(Role.agent)
async def agent_page() -> str:
    agent = await _mine()
    return await render_template(
        "routing/softphone.html", agent=agent, phone=tokens.phone_config(settings()),
        state=await _state(db(), state().telephony, agent),
        dispositions=await dispositions.offered(db()),
        statuses=[s for s in TicketStatus if s != TicketStatus.new],
        chat_capacity=chats.capacity(agent),
    )


@bp.get("/agent/events")
@hide
@require_role(Role.agent)
async def agent_events() -> Response:
    agent_id = (await _mine()).id
    app_state = state()

    async def read() -> bytes:
        async with transaction(app_state.sessionmaker) as session:
            agent = await agents.get_agent(session, agent_id=agent_id)
            assert agent is not None
            return streams.frame("state", await _state(session, app_state.telephony, agent))

    async def frames() -> AsyncIterator[bytes]:
        async with app_state.bus.subscribe("routing.agent.") as events:
            yield await read()
            async for message in events:
                # Their own change, or a RESYNC (events may have been missed).
                if not isinstance(message, Event) or message.data.get("agent_id") == agent_id:
                    yield await read()

    return streams.stream(frames())

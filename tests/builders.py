"""Builders for test data: keyword-only, async, each flushes but never commits.

    user = await make_user(db_session, role=Role.admin)
    token = await make_token(db_session, user=user)
    await db_session.commit()

No shared seed rows: a test builds what it needs. Emails are unique unless given.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import itertools
import re
from typing import Any

from quart import Response
from quart.testing import QuartClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.accounts import passwords
from callcenter.accounts import service as accounts
from callcenter.accounts.models import ApiToken, Role, User
from callcenter.db import utcnow
from callcenter.routing import agents, queues, tasks
from callcenter.routing.models import (
    Activity,
    Agent,
    Reservation,
    Task,
    TaskChannel,
    TaskQueue,
)
from callcenter.telephony import service as calls
from callcenter.telephony.models import Call

DEFAULT_PASSWORD = "correct horse battery"

_serial = itertools.count(1)


@functools.lru_cache(maxsize=32)
def _hash(password: str) -> str:
    """argon2 is slow on purpose; one hash per distinct password keeps builders quick."""
    return passwords.hash_password(password)


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}{next(_serial)}@example.com"


async def make_user(
    session: AsyncSession,
    *,
    email: str | None = None,
    role: Role = Role.agent,
    password: str | None = DEFAULT_PASSWORD,
    name: str = "",
    is_active: bool = True,
    locked_until: dt.datetime | None = None,
) -> User:
    """A user who can sign in with `password` (None: no password at all)."""
    user = User(
        email=(email or unique_email(role.value)).strip().lower(),
        role=role,
        name=name,
        password_hash=_hash(password) if password is not None else None,
        is_active=is_active,
        locked_until=locked_until,
    )
    session.add(user)
    await session.flush()
    return user


async def make_token(
    session: AsyncSession, *, user: User, name: str = "test", revoked: bool = False
) -> str:
    """A bearer token for `user`, made the way the CLI makes one; returns the token."""
    token = await accounts.create_token(session, user=user, name=name)
    if revoked:
        digest = hashlib.sha256(token.encode()).hexdigest()
        row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
        assert row is not None
        row.revoked_at = utcnow()
        await session.flush()
    return token


def csrf_from(page: str) -> str:
    """The CSRF token from a page's hidden form field."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no csrf_token field on the page"
    return found.group(1)


async def sign_in(
    client: QuartClient, *, email: str, password: str = DEFAULT_PASSWORD, next: str = ""
) -> Response:
    """Sign in through the login form, as a browser would: GET the form, POST it back."""
    page = await (await client.get("/login")).get_data(as_text=True)
    form = {"email": email, "password": password, "csrf_token": csrf_from(page)}
    if next:
        form["next"] = next
    return await client.post("/login", form=form)


async def make_queue(session: AsyncSession, *, name: str = "support", **fields: Any) -> TaskQueue:
    """The queue named `name` (made, open to every agent with no wrap-up, if missing)."""
    found = await queues.queue_named(session, name=name)
    if found is not None:
        return await queues.update_queue(session, queue=found, **fields) if fields else found
    fields.setdefault("wrapup_seconds", 0)
    return await queues.create_queue(session, name=name, **fields)


async def make_agent(
    session: AsyncSession,
    *,
    skills: dict[str, int] | None = None,
    languages: list[str] | None = None,
    available: bool = True,
) -> Agent:
    """An agent (with a user of their own), available unless told otherwise."""
    agent = await agents.agent_for_user(session, user=await make_user(session))
    if skills is not None or languages is not None:
        await agents.update_profile(session, agent=agent, skills=skills, languages=languages)
    if available:
        await agents.set_activity(session, agent=agent, activity=Activity.available)
    return agent


async def waiting_call(
    session: AsyncSession,
    *,
    sid: str = "CA" + "1" * 32,
    queue: str = "support",
    priority: int = 0,
    entered_at: dt.datetime | None = None,
    attributes: dict[str, Any] | None = None,
) -> tuple[Call, Task]:
    """A caller waiting in `queue`, as the first round of their wait loop leaves them."""
    call, _ = await calls.start_call(
        session, sid=sid, from_number="+14155550100", to_number="+15005550006"
    )
    task = await tasks.create_task(
        session, channel=TaskChannel.voice, queue=await make_queue(session, name=queue),
        priority=priority, call_id=call.id, entered_at=entered_at,
        attributes={"from": call.from_number, **(attributes or {})},  # as the IVR's queue node
    )
    task.twilio_queue_sid = "QU" + "0" * 32
    await session.flush()
    return call, task


async def make_offer(session: AsyncSession, *, task: Task, agent: Agent) -> Reservation:
    """A ringing offer of `task` to `agent` (claimed as routing would)."""
    assert await agents.claim(session, agent_id=agent.id, task_id=task.id)
    reservation = await tasks.create_reservation(session, task=task, agent_id=agent.id)
    await session.refresh(agent)
    return reservation

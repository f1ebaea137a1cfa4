"""What a request can reach: the settings, the database session, the signed-in user.

The database session is opened on first use and committed (or rolled back, for an error
status or an exception) once, at the end of the request: services only flush. What must
follow the commit is registered on the session (`after_commit`, `events.record`) and
started by the commit itself (`callcenter.unit_of_work`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from quart import Quart, Response, current_app, g
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from callcenter import unit_of_work
from callcenter.config import Settings
from callcenter.events import Bus

if TYPE_CHECKING:
    from callcenter.flows import Telephony
    from callcenter.reports.feed import BoardFeed


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    telephony: Telephony
    bus: Bus
    board: BoardFeed
    # The SMTP listener, while the app serves with one (see `channels.email.listener`).
    smtp: asyncio.Server | None = None


def state() -> AppState:
    return current_app.extensions["callcenter"]


def settings() -> Settings:
    return state().settings


def db() -> AsyncSession:
    """The request's database session, opened on first use."""
    if "db_session" not in g:
        g.db_session = state().sessionmaker()
    return g.db_session


async def release() -> None:
    """Commit what the request did so far and give its connection back, before a flow
    that runs transactions of its own around a REST call: on SQLite the request would
    otherwise hold the only connection while the flow waits for it."""
    session: AsyncSession | None = g.get("db_session")
    if session is not None:
        await session.commit()


def after_commit(func: Callable[..., Awaitable[Any]], *args: Any) -> None:
    """Run `func(*args)` once this request's transaction has committed (never if it rolls
    back): follow-up work must see what the request wrote and must not delay its answer."""
    unit_of_work.after_commit(db(), func, *args)


def register(app: Quart) -> None:
    @app.after_request
    async def _commit(response: Response) -> Response:
        session: AsyncSession | None = g.pop("db_session", None)
        if session is not None:
            try:
                if response.status_code < 400:
                    await session.commit()
                else:
                    await session.rollback()
            finally:
                await session.close()
        return response

    @app.teardown_request
    async def _close(_exc: BaseException | None) -> None:
        session: AsyncSession | None = g.pop("db_session", None)
        if session is not None:
            await session.rollback()
            await session.close()

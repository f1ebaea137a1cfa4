"""What a request can reach: the settings, the database session, the signed-in user.

The database session is opened on first use and committed (or rolled back, for an error
status or an exception) once, at the end of the request: services only flush.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from quart import Quart, Response, current_app, g
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from callcenter.config import Settings

if TYPE_CHECKING:
    from callcenter.flows import Telephony


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    telephony: Telephony


def state() -> AppState:
    return current_app.extensions["callcenter"]


def settings() -> Settings:
    return state().settings


def db() -> AsyncSession:
    """The request's database session, opened on first use."""
    if "db_session" not in g:
        g.db_session = state().sessionmaker()
    return g.db_session


def after_commit(func: Callable[..., Awaitable[Any]], *args: Any) -> None:
    """Run `func(*args)` in the background once this request's transaction has committed.

    Follow-up work (offering a call to an agent, hanging up a leg) must see what the
    request wrote, and must not delay Twilio's answer.
    """
    g.setdefault("after_commit", []).append((func, args))


def register(app: Quart) -> None:
    @app.after_request
    async def _commit(response: Response) -> Response:
        session: AsyncSession | None = g.pop("db_session", None)
        committed = session is None
        if session is not None:
            try:
                if response.status_code < 400:
                    await session.commit()
                    committed = True
                else:
                    await session.rollback()
            finally:
                await session.close()
        if committed and response.status_code < 400:
            for func, args in g.pop("after_commit", []):
                current_app.add_background_task(func, *args)
        return response

    @app.teardown_request
    async def _close(_exc: BaseException | None) -> None:
        session: AsyncSession | None = g.pop("db_session", None)
        if session is not None:
            await session.rollback()
            await session.close()

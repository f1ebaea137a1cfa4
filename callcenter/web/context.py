"""What a request can reach: the settings, the database session, the signed-in user.

The database session is opened on first use and committed (or rolled back, for an error
status or an exception) once, at the end of the request: services only flush.
"""

from __future__ import annotations

from dataclasses import dataclass

from quart import Quart, Response, current_app, g
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from callcenter.config import Settings


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]


def state() -> AppState:
    return current_app.extensions["callcenter"]


def settings() -> Settings:
    return state().settings


def db() -> AsyncSession:
    """The request's database session, opened on first use."""
    if "db_session" not in g:
        g.db_session = state().sessionmaker()
    return g.db_session


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

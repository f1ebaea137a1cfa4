"""Engine, sessions and the declarative base shared by every domain's models.

One code path serves SQLite (the embedded default) and PostgreSQL (several instances):
models use only portable types, and SQLite connections get WAL and foreign keys switched on.
Sessions are opened and committed at the boundary (a request, a CLI command, a job);
services only flush.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, MetaData, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from callcenter import unit_of_work

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC: the only kind of datetime the app stores."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp that is always timezone-aware UTC on the way in and on the way out.

    SQLite has no time zones and hands back naive values; PostgreSQL stores timestamptz.
    Normalising here keeps comparisons and arithmetic correct on both.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    """The base of every model; constraint names follow NAMING_CONVENTION for Alembic."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime()}


class CreatedAtMixin:
    """When the row was made."""

    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


def _sqlite_setup(busy_timeout_ms: int) -> Callable[[Any, Any], None]:
    """Set up each SQLite connection: WAL lets readers and one writer work at once, and
    foreign keys are off by default in SQLite. The busy timeout bounds how long a statement
    waits for another process's write lock before it fails.

    The driver's own transaction handling is switched off (SQLAlchemy's documented recipe):
    left on, a SAVEPOINT opened outside BEGIN commits when released, and the rest of the
    request runs in fresh implicit transactions that can silently lose updates.
    """

    def connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        dbapi_connection.isolation_level = None

    return connect


def _sqlite_begin(connection: Any) -> None:
    """Take SQLite's write lock when a transaction starts, not at its first write.

    SQLite has one writer at a time anyway; taking the lock up front means a transaction
    never reads a row that another commits before it writes (what PostgreSQL's
    SELECT ... FOR UPDATE gives us there), so read-modify-write is safe on both backends.
    """
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(
    database_url: str, *, lock_timeout: float | None = None, **kwargs: Any
) -> AsyncEngine:
    """An async engine for either backend, with SQLite set up for concurrent use.

    `lock_timeout` (seconds) bounds how long a statement waits on a lock another
    connection holds, so a request fails in time to answer rather than hang; without it
    (migrations, one-off commands) a statement waits up to 10 s on SQLite, as long as it
    takes on PostgreSQL.
    """
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # SQLite has one writer at a time. With one connection per process, transactions
        # queue in asyncio (no cost while waiting) instead of in SQLite's busy handler,
        # which sleeps in steps of up to 100 ms: under load, that sleeping is the latency.
        # Flows never hold a transaction while opening another, so one is enough.
        kwargs.setdefault("pool_size", 1)
        kwargs.setdefault("max_overflow", 0)
        kwargs.setdefault("pool_timeout", 30)
        engine = create_async_engine(url, **kwargs)
        busy_ms = round((lock_timeout or 10.0) * 1000)
        event.listen(engine.sync_engine, "connect", _sqlite_setup(busy_ms))
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if lock_timeout is not None:
        settings = {"lock_timeout": f"{round(lock_timeout * 1000)}ms"}
        kwargs.setdefault("connect_args", {}).setdefault("server_settings", settings)
    return create_async_engine(url, **kwargs)


def create_sessionmaker(
    engine: AsyncEngine,
    *,
    publish: Callable[[list[Any]], Awaitable[None]] | None = None,
    jobs: Any = None,
) -> async_sessionmaker[AsyncSession]:
    """Units of work (`callcenter.unit_of_work`) that keep objects usable after commit, so
    views can render what they saved; `publish` receives the events each commit recorded,
    and `jobs` (a `callcenter.jobs.JobQueue`) takes jobs queued from inside a commit."""
    info: dict[str, Any] = {}
    if publish is not None:
        info[unit_of_work.PUBLISH] = publish
    if jobs is not None:
        info[unit_of_work.JOBS] = jobs
    return async_sessionmaker(
        engine,
        expire_on_commit=False,
        sync_session_class=unit_of_work.UnitOfWork,
        info=info or None,
    )


@asynccontextmanager
async def transaction(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A unit of work for CLI commands and jobs: commit on success, roll back on error."""
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


async def ping(engine: AsyncEngine, *, within: float) -> bool:
    """Whether the database answers a trivial query within `within` seconds: what /healthz
    reports. A database that hangs (a lock held elsewhere, a full pool) counts as down, so
    the health check itself never hangs.

    SQLite is asked on a connection of its own: the app's one pooled connection is busy
    whenever webhooks are, and a reader is never blocked by a writer under WAL.
    """
    try:
        async with asyncio.timeout(within):
            if engine.dialect.name == "sqlite":
                path = engine.url.database or ":memory:"
                return await asyncio.to_thread(_sqlite_reads, path, within)
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


def _sqlite_reads(path: str, within: float) -> bool:
    """Read the schema through a fresh connection, never creating a missing file."""
    if path == ":memory:":
        return True
    uri = Path(path).resolve().as_uri() + "?mode=rw"
    connection = sqlite3.connect(uri, uri=True, timeout=within)
    try:
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    finally:
        connection.close()
    return True


LIKE_ESCAPE = "\\"


def containing(column: Any, text: str) -> Any:
    """`column` contains `text` (case-insensitive), with `%` and `_` taken literally: what
    a person types in a search box is words, not a LIKE pattern."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.ilike(f"%{escaped}%", escape=LIKE_ESCAPE)

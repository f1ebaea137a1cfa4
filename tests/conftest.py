"""Fixtures for the whole suite: a migrated database on SQLite and PostgreSQL, settings,
the app (started), its test client, a live Hypercorn server and a database session.

Database tests run twice, once per backend (ids `sqlite` and `postgres`):

- SQLite: a template file is migrated once per session; each test gets its own copy.
- PostgreSQL: one database per session (`callcenter_test_<random>`) on the server at
  `CALLCENTER_TEST_POSTGRES_URL`, migrated once; before each test every table goes back to
  what the migrations leave (empty, or the rows they ship).
  `CALLCENTER_TEST_POSTGRES=0` skips the PostgreSQL runs; an unreachable server fails them.

Markers:
- `@pytest.mark.backends("sqlite")`: run a database test on the named backends only.
- `@pytest.mark.settings(login_max_failures=3)`: override settings fields for one test
  (as does redefining the `settings_overrides` fixture or parametrising it indirectly).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import sqlite3
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig
from quart import Quart
from quart.testing import QuartClient
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter import db as db_module
from callcenter import migrate, models
from callcenter.app import create_app
from callcenter.config import Settings
from callcenter.db import create_engine, create_sessionmaker

BACKENDS = ("sqlite", "postgres")
POSTGRES_DISABLED = "PostgreSQL tests disabled by CALLCENTER_TEST_POSTGRES=0"
DEFAULT_POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TWILIO_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
TWILIO_AUTH_TOKEN = "test-auth-token"
SECRET_KEY = "test-secret-key-" + "x" * 32


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "backends(*names): run this database test only on these backends"
    )
    config.addinivalue_line("markers", "settings(**fields): override Settings fields")
    config.addinivalue_line("markers", "serial: run alone, after the rest (see SERIAL)")


# Tests that time what they see (the chaos run of several app processes, latency bounds
# during a login flood or a stalled database, the board's event-to-screen time, a person's
# pace through the softphone and a ticket page on the wall clock, a caller whose grace is
# seconds): `scripts/test`
# runs them alone, after the rest has run on two workers, so a busy neighbour cannot make
# them late.
SERIAL = {
    "accounts/test_login_flood.py", "e2e/test_board.py", "e2e/test_callers_left_alone.py",
    "e2e/test_instances.py", "e2e/test_softphone.py", "e2e/test_ticket_workspace.py",
    "telephony/test_stalls.py",
}
TESTS_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the SERIAL tests `serial`; drop the runs of `database_url` that a `backends`
    marker excludes."""
    keep, drop = [], []
    for item in items:
        if item.path.resolve().relative_to(TESTS_DIR).as_posix() in SERIAL:
            item.add_marker(pytest.mark.serial)
        marker = item.get_closest_marker("backends")
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("database_url") if callspec else None
        if marker is not None and backend is not None and backend not in marker.args:
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's CALLCENTER_* variables must not leak into the settings tests build."""
    for name in list(os.environ):
        if name.startswith("CALLCENTER_") and not name.startswith("CALLCENTER_TEST_"):
            monkeypatch.delenv(name)


# --- the databases -------------------------------------------------------------------------


def postgres_enabled() -> bool:
    return os.environ.get("CALLCENTER_TEST_POSTGRES", "1") != "0"


def postgres_admin_url() -> str:
    return os.environ.get("CALLCENTER_TEST_POSTGRES_URL", DEFAULT_POSTGRES_ADMIN_URL)


def _asyncpg_dsn(url: str) -> str:
    """asyncpg wants a plain postgresql:// URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_TABLES_SQL = (
    "SELECT tablename AS name FROM pg_tables "
    "WHERE schemaname = current_schema() AND tablename <> 'alembic_version'"
)
# Sequences owned by a table's column (serial or identity) that have handed out a value.
_USED_SEQUENCES_SQL = """
SELECT seq.relname AS name, used.last_value AS last_value
FROM pg_class seq
JOIN pg_depend dep ON dep.objid = seq.oid AND dep.deptype IN ('a', 'i')
JOIN pg_namespace ns ON ns.oid = seq.relnamespace
JOIN pg_sequences used ON used.schemaname = ns.nspname AND used.sequencename = seq.relname
WHERE seq.relkind = 'S' AND ns.nspname = current_schema() AND used.last_value IS NOT NULL
"""


def _fingerprint_sql(table: str) -> str:
    """One value that changes whenever any row of `table` does."""
    return (f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
            f"FROM {_quote(table)} t")


def _literal(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def _children_first(names: set[str]) -> list[str]:
    """Tables in an order DELETE can follow: referencing tables before those they reference.

    Tables the models do not know (none, while the migrations match the models) go first.
    """
    known = [table.name for table in reversed(models.Base.metadata.sorted_tables)]
    return sorted(names - set(known)) + [name for name in known if name in names]


class _LoopThread:
    """An event loop on its own thread, for session-wide async work from sync fixtures."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class PostgresDatabase:
    """The session's PostgreSQL database: created, migrated, truncated per test, dropped.

    "Empty" means as the migrations leave it: the rows they ship (the SLA policy, the
    shipped triggers and macros) are put back as they were, and their ids go on from there.
    """

    def __init__(self, admin_url: str) -> None:
        self.admin_dsn = _asyncpg_dsn(admin_url)
        self.name = f"callcenter_test_{secrets.token_hex(4)}"
        self.url = (
            make_url(admin_url)
            .set(drivername="postgresql+asyncpg", database=self.name)
            .render_as_string(hide_password=False)
        )
        self._thread = _LoopThread()
        self._connection: asyncpg.Connection | None = None
        # What the migrations ship: each table's rows and fingerprint, and the sequences.
        self._seeds: dict[str, tuple[list[asyncpg.Record], str]] = {}
        self._seed_sequences: dict[str, int] = {}

    def create(self) -> None:
        async def create() -> None:
            admin = await asyncpg.connect(self.admin_dsn, timeout=10)
            try:
                await admin.execute(f"CREATE DATABASE {_quote(self.name)}")
            finally:
                await admin.close()

        try:
            self._thread.run(create())
        except (OSError, asyncpg.PostgresError, TimeoutError) as error:
            self._thread.close()
            pytest.fail(
                f"PostgreSQL is not reachable at {postgres_admin_url()} ({error}); start it, "
                "point CALLCENTER_TEST_POSTGRES_URL at a server, or set "
                "CALLCENTER_TEST_POSTGRES=0 to skip the PostgreSQL runs",
                pytrace=False,
            )
        migrate.upgrade(self.url)
        self._thread.run(self._snapshot())

    async def _snapshot(self) -> None:
        connection = await self._connect()
        for row in await connection.fetch(_TABLES_SQL):
            records = await connection.fetch(f"SELECT * FROM {_quote(row['name'])}")
            if records:
                fingerprint = await connection.fetchval(_fingerprint_sql(row["name"]))
                self._seeds[row["name"]] = (list(records), fingerprint)
        self._seed_sequences = {
            row["name"]: row["last_value"] for row in await connection.fetch(_USED_SEQUENCES_SQL)
        }

    async def _restore(self, connection: asyncpg.Connection, tables: list[str]) -> None:
        """Put the shipped rows of `tables` back (they have just been emptied)."""
        for name in tables:
            records, _ = self._seeds[name]
            await connection.copy_records_to_table(
                name, records=[tuple(record) for record in records], columns=list(records[0].keys())
            )

    async def _connect(self) -> asyncpg.Connection:
        if self._connection is None or self._connection.is_closed():
            self._connection = await asyncpg.connect(_asyncpg_dsn(self.url))
        return self._connection

    def truncate(self) -> None:
        """TRUNCATE every table RESTART IDENTITY CASCADE: the whole database back to empty."""

        async def truncate() -> None:
            connection = await self._connect()
            tables = await connection.fetch(_TABLES_SQL)
            if tables:
                names = ", ".join(_quote(row["name"]) for row in tables)
                async with connection.transaction():
                    await connection.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
                    await self._restore(connection, list(self._seeds))
                    for name, value in self._seed_sequences.items():
                        await connection.execute("SELECT setval($1, $2)", name, value)

        self._thread.run(truncate())

    def reset(self) -> None:
        """Empty every table and restart its ids, so each test starts from nothing.

        The same end state as `truncate()`, but only for the tables a test touched (rows, or a
        used id sequence), by DELETE children-first and ALTER SEQUENCE ... RESTART: about 1 ms
        for an untouched database and 10 ms for a touched one, against 80+ ms for TRUNCATE.
        Falls back to `truncate()` if the DELETEs cannot be ordered (an FK cycle).
        """

        async def reset() -> bool:
            connection = await self._connect()
            tables = [row["name"] for row in await connection.fetch(_TABLES_SQL)]
            if not tables:
                return True
            probe = " UNION ALL ".join(
                f"SELECT {_literal(name)} WHERE ({_fingerprint_sql(name)}) <> "
                f"{_literal(self._seeds[name][1])}" if name in self._seeds else
                f"SELECT {_literal(name)} WHERE EXISTS (SELECT 1 FROM {_quote(name)})"
                for name in tables
            )
            dirty = {row[0] for row in await connection.fetch(probe)}
            sequences = {
                row["name"]: row["last_value"]
                for row in await connection.fetch(_USED_SEQUENCES_SQL)
                if row["last_value"] != self._seed_sequences.get(row["name"])
            }
            if not dirty and not sequences:
                return True
            statements = [f"DELETE FROM {_quote(name)}" for name in _children_first(dirty)]
            statements += [f"ALTER SEQUENCE {_quote(name)} RESTART" for name in sequences
                           if name not in self._seed_sequences]
            try:
                async with connection.transaction():
                    await connection.execute(";\n".join(statements or ["SELECT 1"]))
                    await self._restore(connection, sorted(dirty & set(self._seeds)))
                    for name in sequences.keys() & self._seed_sequences.keys():
                        await connection.execute(
                            "SELECT setval($1, $2)", name, self._seed_sequences[name]
                        )
            except asyncpg.ForeignKeyViolationError:
                return False
            return True

        if not self._thread.run(reset()):
            self.truncate()

    def drop(self) -> None:
        async def drop() -> None:
            if self._connection is not None:
                await self._connection.close()
            admin = await asyncpg.connect(self.admin_dsn, timeout=10)
            try:
                await admin.execute(f"DROP DATABASE IF EXISTS {_quote(self.name)} WITH (FORCE)")
            finally:
                await admin.close()

        try:
            self._thread.run(drop())
        finally:
            self._thread.close()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[PostgresDatabase]:
    """The session's migrated PostgreSQL database (see PostgresDatabase)."""
    if not postgres_enabled():
        pytest.skip(POSTGRES_DISABLED)
    database = PostgresDatabase(postgres_admin_url())
    database.create()
    try:
        yield database
    finally:
        database.drop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session; tests get copies of it."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    # Fold the write-ahead log into the file so a plain copy carries everything.
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated database of one backend, for this test alone (async URL)."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "callcenter.db"
        shutil.copyfile(template, path)
        return f"sqlite+aiosqlite:///{path}"
    if request.param == "postgres":
        database: PostgresDatabase = request.getfixturevalue("postgres_database")
        database.reset()
        return database.url
    raise ValueError(f"unknown backend {request.param!r}")


@pytest.fixture
def backend(database_url: str) -> str:
    """`sqlite` or `postgres`: which backend this run of the test is on."""
    return "sqlite" if database_url.startswith("sqlite") else "postgres"


# --- settings, the app and its servers ----------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (the live server's port)."""
    return _free_port()


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A Redis of this test's own: the instances' events and the worker's queue."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is installed by scripts/install"
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(5)


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings fields to change for a test: from `@pytest.mark.settings(...)`, from indirect
    parametrisation (`@pytest.mark.parametrize("settings_overrides", [{...}], indirect=True)`),
    or by redefining this fixture in a module."""
    overrides: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("settings"))):
        overrides.update(marker.kwargs)
    overrides.update(getattr(request, "param", {}) or {})
    return overrides


@pytest.fixture
def settings(
    tmp_path: Path, database_url: str, free_port: int, settings_overrides: dict[str, Any]
) -> Settings:
    """Settings for the test's database, with `public_base_url` = the live server's URL."""
    fields: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "secret_key": SECRET_KEY,
        "public_base_url": f"http://127.0.0.1:{free_port}",
        "recordings_dir": tmp_path / "recordings",
        "twilio_account_sid": TWILIO_ACCOUNT_SID,
        "twilio_auth_token": TWILIO_AUTH_TOKEN,
        "twilio_api_base_url": "http://127.0.0.1:9",
        "worker_backend": "sqlite",
    }
    fields.update(settings_overrides)
    return Settings(**fields)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Quart]:
    """`create_app(settings)`, started (before_serving ran) and shut down after the test."""
    application = create_app(settings)
    async with application.test_app():
        yield application


@pytest.fixture
def client(app: Quart) -> QuartClient:
    """The app's test client (cookies persist between its requests)."""
    return app.test_client()


def _without_lifespan(application: Quart) -> Any:
    """The app for Hypercorn, minus lifespan: the `app` fixture has already started it."""

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await application(scope, receive, send)

    return asgi


@pytest.fixture
async def live_server(app: Quart, settings: Settings, free_port: int) -> AsyncIterator[str]:
    """The same app served over real HTTP by Hypercorn on 127.0.0.1:free_port, in the test's
    event loop; yields the base URL, which equals `settings.public_base_url`."""
    config = HypercornConfig()
    config.bind = [f"127.0.0.1:{free_port}"]
    config.accesslog = None
    config.graceful_timeout = 1
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(_without_lifespan(app), config, shutdown_trigger=stop.wait, mode="asgi")
    )
    base_url = f"http://127.0.0.1:{free_port}"
    assert base_url == settings.public_base_url
    for _ in range(200):
        if task.done():
            task.result()  # raises the reason the server could not start
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", free_port)
        except OSError:
            await asyncio.sleep(0.02)
            continue
        writer.close()
        await writer.wait_closed()
        break
    else:
        raise RuntimeError(f"the live server did not start on {base_url}")
    try:
        yield base_url
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)


@pytest.fixture
async def db_session(database_url: str) -> AsyncIterator[AsyncSession]:
    """A session on the test's database for arranging and asserting; commit what you arrange.

    On SQLite the app begins every transaction with BEGIN IMMEDIATE (the write lock); this
    session begins the plain way, so a test that reads and then waits on the app (a live
    server, a webhook) cannot hold the app up. Its first write still takes the lock: commit
    (or roll back) before driving the app. Roll back to see what the app committed since.
    """
    engine = create_engine(database_url)
    begin_immediate = getattr(db_module, "_sqlite_begin", None)
    if begin_immediate is not None and event.contains(engine.sync_engine, "begin", begin_immediate):
        event.remove(engine.sync_engine, "begin", begin_immediate)
    try:
        async with create_sessionmaker(engine)() as session:
            yield session
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def table_names() -> list[str]:
    """Every table the models define (what a migrated database must contain)."""
    return sorted(models.Base.metadata.tables)

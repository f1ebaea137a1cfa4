"""What both benchmarks share: ports, databases, seeding, server processes, percentiles."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from callcenter import migrate
from callcenter.accounts import service as accounts
from callcenter.accounts.models import Role
from callcenter.blocklist import service as blocklist
from callcenter.blocklist.models import BlockKind
from callcenter.db import create_engine, create_sessionmaker, transaction
from callcenter.routing import agents as routing
from callcenter.routing.models import Activity

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
PG_DB = os.environ.get("BENCH_PG_DB", "callcenter_bench")
ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
SUPPORT_NUMBER = "+15005550006"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with status {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {HOST}:{port} after {timeout} s")


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, round(pct / 100 * len(ordered) + 0.4999))
    return ordered[min(rank, len(ordered)) - 1]


# ---------------------------------------------------------------- databases


@dataclass
class Database:
    kind: str  # "sqlite" | "postgres"
    url: str

    def drop(self) -> None:
        if self.kind == "postgres":
            asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)'))


async def _pg_admin(*statements: str) -> None:
    engine = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


def fresh_database(kind: str, workdir: Path) -> Database:
    """An empty, migrated database of that kind (SQLite file in workdir, or PG_DB recreated)."""
    if kind == "sqlite":
        path = workdir / "bench.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite+aiosqlite:///{path}"
    elif kind == "postgres":
        drop = f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)'
        asyncio.run(_pg_admin(drop, f'CREATE DATABASE "{PG_DB}"'))
        base = PG_ADMIN_URL.rsplit("/", 1)[0]
        url = f"{base}/{PG_DB}"
    else:
        raise ValueError(kind)
    migrate.upgrade(url)
    return Database(kind, url)


async def seed(url: str, *, agents: int, blocked: int = 20) -> list[str]:
    """Agents signed in and available, and a blocklist with exact and prefix entries.

    Returns the agents' client identities (for the emulator's agent phones).
    """
    engine = create_engine(url)
    identities: list[str] = []
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            for index in range(1, agents + 1):
                user = await accounts.create_user(
                    session,
                    email=f"agent{index}@bench.example.com",
                    role=Role.agent,
                    password="bench-password-not-secret",
                    name=f"Agent {index}",
                )
                agent = await routing.agent_for_user(session, user=user)
                await routing.set_activity(session, agent=agent, activity=Activity.available)
                identities.append(agent.client_identity)
            for index in range(blocked):
                await blocklist.add(
                    session,
                    kind=BlockKind.exact if index % 2 else BlockKind.prefix,
                    value=f"+1900555{index:04d}" if index % 2 else f"+1900{index:03d}",
                    reason="benchmark",
                )
    finally:
        await engine.dispose()
    return identities


async def scalar(url: str, sql: str) -> object:
    """One value read while the app may be writing. On SQLite a plain read (no write lock):
    the app's engine starts every transaction with BEGIN IMMEDIATE, which would queue this
    read behind a saturated server until SQLite's busy timeout."""
    if url.startswith("sqlite"):
        with contextlib.closing(sqlite3.connect(make_url(url).database or "")) as conn:
            return conn.execute(sql).fetchone()[0]
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql))).scalar()
    finally:
        await engine.dispose()


# ---------------------------------------------------------------- server processes


def app_env(*, database_url: str, port: int, workdir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    env.update(
        CALLCENTER_DATABASE_URL=database_url,
        CALLCENTER_PUBLIC_BASE_URL=f"http://{HOST}:{port}",
        CALLCENTER_DATA_DIR=str(workdir / "data"),
        CALLCENTER_SECRET_KEY="bench-session-secret",
        CALLCENTER_TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        CALLCENTER_TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        CALLCENTER_TWILIO_PHONE_NUMBER=SUPPORT_NUMBER,
        CALLCENTER_RECORDINGS_DIR=str(workdir / "recordings"),
        CALLCENTER_LOG_FORMAT="json",
        CALLCENTER_LOG_LEVEL="INFO",
    )
    env.update(extra)
    return env


class Server:
    """`python -m benchmarks.serve APP HOST PORT` in its own process group, logs to a file."""

    def __init__(self, application: str, port: int, env: dict[str, str], log_path: Path) -> None:
        self.port = port
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.serve", application, HOST, str(port)],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_port(port, self.proc)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)  # our own group: hypercorn + its worker
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self._log.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@dataclass
class Target:
    """A benchmark's database: made for the run (and dropped after it) or one named."""

    kind: str  # "sqlite" | "postgres"
    url: str
    owned: bool  # made by this script: dropped afterwards
    pg_db: str = ""

    def drop(self) -> None:
        if self.owned and self.kind == "postgres":
            asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{self.pg_db}" WITH (FORCE)'))


def fresh_target(kind: str, workdir: Path, url: str | None, *, name: str, pg_db: str) -> Target:
    """A migrated database: `url` when given (left in place), else an SQLite file
    `<name>.db` in `workdir`, or the PostgreSQL database `pg_db` made anew."""
    if url is not None:
        kind = "sqlite" if make_url(url).get_backend_name() == "sqlite" else "postgres"
        target = Target(kind, url, owned=False)
    elif kind == "sqlite":
        target = Target(kind, f"sqlite+aiosqlite:///{workdir / f'{name}.db'}", owned=True)
    else:
        drop = f'DROP DATABASE IF EXISTS "{pg_db}" WITH (FORCE)'
        asyncio.run(_pg_admin(drop, f'CREATE DATABASE "{pg_db}"'))
        target = Target(kind, f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{pg_db}", owned=True,
                        pg_db=pg_db)
    migrate.upgrade(target.url)
    return target

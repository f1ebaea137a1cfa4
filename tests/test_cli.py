"""The real `callcenter` console script, run as a subprocess the way an operator runs it."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from builders import make_token, make_user, sign_in
from quart.testing import QuartClient
from sqlalchemy import inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter import migrate, models
from callcenter.accounts.models import User
from callcenter.app import create_app
from callcenter.audit.models import AuditEntry
from callcenter.config import Settings
from callcenter.db import create_engine, utcnow

CALLCENTER = Path(sys.executable).parent / "callcenter"
PASSWORD = "a long enough password"
NEW_PASSWORD = "a whole new passphrase"


def cli_env(**variables: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("CALLCENTER_") or name.startswith("CALLCENTER_TEST_")
    }
    env.update(variables)
    return env


def callcenter(
    *args: str, cwd: Path, stdin: str | None = None, timeout: float = 60, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CALLCENTER), *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        cwd=cwd,
        env=cli_env(**env),
        timeout=timeout,
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def cli(tmp_path: Path, data_dir: Path):
    """`callcenter` with CALLCENTER_DATA_DIR set to the test's own data dir."""

    def run(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
        env.setdefault("CALLCENTER_DATA_DIR", str(data_dir))
        return callcenter(*args, cwd=tmp_path, stdin=stdin, **env)

    return run


def test_console_script_is_installed() -> None:
    assert CALLCENTER.exists(), f"{CALLCENTER} is missing: pip install -e '.[test]'"


def test_every_command_has_help(tmp_path: Path) -> None:
    commands = [
        [],
        ["serve"],
        ["worker"],
        ["db"],
        ["db", "upgrade"],
        ["db", "downgrade"],
        ["user"],
        ["user", "add"],
        ["user", "token"],
        ["user", "tokens"],
        ["user", "revoke-token"],
        ["user", "password"],
        ["user", "deactivate"],
        ["user", "activate"],
        ["user", "unlock"],
        ["queue"],
        ["queue", "add"],
        ["queue", "list"],
        ["ivr"],
        ["ivr", "validate"],
        ["ivr", "import"],
        ["ivr", "export"],
        ["ivr", "publish"],
        ["ivr", "rollback"],
    ]
    running = [
        (
            command,
            subprocess.Popen(
                [str(CALLCENTER), *command, "--help"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=tmp_path,
                env=cli_env(),
            ),
        )
        for command in commands
    ]
    for command, process in running:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, (command, err)
        assert "Usage: callcenter" in out, command
        assert err == "", command
    assert (
        "--password-stdin"
        in subprocess.run(
            [str(CALLCENTER), "user", "add", "--help"],
            capture_output=True,
            text=True,
            env=cli_env(),
        ).stdout
    )


def test_add_a_user_and_use_a_token_from_the_cli(cli, data_dir: Path) -> None:
    upgraded = cli("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert (data_dir / "callcenter.db").exists()

    added = cli(
        "user",
        "add",
        "Boss@Example.com",
        "--role",
        "admin",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert added.returncode == 0, added.stderr
    assert "boss@example.com" in added.stdout.lower()
    assert PASSWORD not in added.stdout + added.stderr

    made = cli("user", "token", "boss@example.com")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("cc_") and len(token) > 30

    async def me(token: str) -> tuple[int, dict]:
        app = create_app(Settings(data_dir=data_dir, secret_key="k" * 40))
        async with app.test_app():
            response = await app.test_client().get(
                "/api/me", headers={"Authorization": f"Bearer {token}"}
            )
            return response.status_code, await response.get_json()

    status, body = asyncio.run(me(token))
    assert status == 200, body
    assert body["email"] == "boss@example.com"
    assert body["role"] == "admin"

    again = cli(
        "user",
        "add",
        "boss@example.com",
        "--role",
        "agent",
        "--password-stdin",
        stdin="another long password\n",
    )
    assert again.returncode != 0
    assert "already exists" in again.stderr
    assert "Traceback" not in again.stderr

    weak = cli(
        "user", "add", "weak@example.com", "--role", "agent", "--password-stdin", stdin="short\n"
    )
    assert weak.returncode != 0
    assert "at least 10 characters" in weak.stderr
    assert "Traceback" not in weak.stderr

    missing = cli("user", "token", "nobody@example.com")
    assert missing.returncode != 0
    assert "no user with email nobody@example.com" in missing.stderr


def test_serve_with_a_bad_database_url_says_so_in_one_line(cli) -> None:
    result = cli("serve", "--port", "1", CALLCENTER_DATABASE_URL="not a url")

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "CALLCENTER_DATABASE_URL" in lines[0]
    assert "Traceback" not in result.stderr


def test_serve_on_an_unmigrated_database_asks_for_db_upgrade(cli, data_dir: Path) -> None:
    result = cli("serve", "--port", "1", timeout=30)

    assert result.returncode != 0
    assert "callcenter db upgrade" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_on_an_unreachable_database_names_the_setting(cli) -> None:
    result = cli(
        "serve",
        "--port",
        "1",
        timeout=30,
        CALLCENTER_DATABASE_URL="postgresql://nobody@127.0.0.1:1/nothing",
    )

    assert result.returncode != 0
    assert "CALLCENTER_DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


async def test_db_upgrade_builds_the_schema(cli, database_url: str) -> None:
    """On both backends: empty the test database, then let the CLI build it again."""
    engine = create_engine(database_url)

    async def tables() -> set[str]:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))

    try:
        migrate.downgrade(database_url, "base")
        assert await tables() == {"alembic_version"}

        result = cli("db", "upgrade", CALLCENTER_DATABASE_URL=database_url)

        assert result.returncode == 0, result.stderr
        assert set(models.Base.metadata.tables) <= await tables()
        assert await migrate.current_revision(engine) == migrate.head_revision()
    finally:
        migrate.upgrade(database_url)
        await engine.dispose()


def test_serve_refuses_the_placeholder_auth_token_on_a_public_url(cli) -> None:
    """Webhooks signed with a public placeholder prove nothing: a reachable app must not run."""
    result = cli(
        "serve", "--port", "1", timeout=30, CALLCENTER_PUBLIC_BASE_URL="https://support.example.com"
    )

    assert result.returncode != 0
    assert "CALLCENTER_TWILIO_AUTH_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_refuses_a_broken_ivr_flow_naming_the_node(cli, tmp_path: Path) -> None:
    assert cli("db", "upgrade").returncode == 0
    flow = tmp_path / "broken.yaml"
    flow.write_text("name: x\nstart: hello\nnodes:\n  hello: {type: say, text: Hi, next: gone}\n")

    result = cli("serve", "--port", "1", timeout=30, CALLCENTER_IVR_FLOW_PATH=str(flow))

    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "CALLCENTER_IVR_FLOW_PATH" in lines[0] and "'hello'" in lines[0] and "'gone'" in lines[0]


def test_queues_from_the_cli_and_serve_refusing_a_flow_naming_a_missing_queue(
    cli, tmp_path: Path
) -> None:
    assert cli("db", "upgrade").returncode == 0
    bad = cli("queue", "add", "sales", "--expression", 'skills HAS billing')
    assert bad.returncode != 0
    assert "expression: at 11: expected a quoted value after HAS" in bad.stderr
    added = cli("queue", "add", "sales", "--expression", 'skills HAS "sales"', "--wrapup", "15")
    assert added.returncode == 0, added.stderr
    listed = cli("queue", "list")
    assert "sales  longest-idle" in listed.stdout and 'skills HAS "sales"' in listed.stdout

    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "name: x\nstart: line\nnodes:\n"
        "  line: {type: queue, queue: refunds, no_agents: bye}\n"
        "  bye: {type: hangup}\n"
    )
    result = cli("serve", "--port", "1", timeout=30, CALLCENTER_IVR_FLOW_PATH=str(flow))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "node 'line': queue 'refunds' does not exist" in lines[0]


async def test_user_commands_end_sessions_revoke_tokens_and_unlock(
    cli, database_url: str, client: QuartClient, db_session: AsyncSession
) -> None:
    """On both backends: what an operator does when a laptop is lost or a person leaves."""
    user = await make_user(db_session, email="ann@example.com", password=PASSWORD)
    token = await make_token(db_session, user=user, name="wallboard")
    await db_session.commit()
    user_id = user.id
    env = {"CALLCENTER_DATABASE_URL": database_url}

    async def me(**headers: str) -> int:
        return (await client.get("/api/me", headers=headers)).status_code

    async def sign_in_with(password: str) -> int:
        return (await sign_in(client, email="ann@example.com", password=password)).status_code

    assert await sign_in_with(PASSWORD) == 302

    listed = cli("user", "tokens", "ann@example.com", **env)
    assert listed.returncode == 0, listed.stderr
    assert token[:10] in listed.stdout and "wallboard" in listed.stdout
    assert token[10:] not in listed.stdout
    revoked = cli("user", "revoke-token", token[:10], **env)
    assert revoked.returncode == 0, revoked.stderr
    assert await me(Authorization=f"Bearer {token}") == 401
    again = cli("user", "revoke-token", token[:10], **env)
    assert again.returncode == 1 and "no API token in use starts with" in again.stderr

    changed = cli(
        "user", "password", "ann@example.com", "--password-stdin", stdin=f"{NEW_PASSWORD}\n", **env
    )
    assert changed.returncode == 0, changed.stderr
    assert "1 session(s) signed out" in changed.stdout
    assert await me() == 401
    assert await sign_in_with(PASSWORD) == 401
    assert await sign_in_with(NEW_PASSWORD) == 302

    until = utcnow() + dt.timedelta(hours=1)
    await db_session.execute(update(User).where(User.id == user_id).values(locked_until=until))
    await db_session.commit()
    unlocked = cli("user", "unlock", "ann@example.com", **env)
    assert unlocked.returncode == 0 and "unlocked ann@example.com" in unlocked.stdout

    second = await make_token(db_session, user=await db_session.get_one(User, user_id))
    await db_session.commit()
    deactivated = cli("user", "deactivate", "ann@example.com", **env)
    assert deactivated.returncode == 0, deactivated.stderr
    assert "1 session(s) signed out, 1 API token(s) revoked" in deactivated.stdout
    assert await me() == 401
    assert await me(Authorization=f"Bearer {second}") == 401
    activated = cli("user", "activate", "ann@example.com", **env)
    assert activated.returncode == 0, activated.stderr
    assert await sign_in_with(NEW_PASSWORD) == 302

    await db_session.rollback()
    actions = list(await db_session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions == [
        "token.created", "token.revoked", "user.password_changed", "user.unlocked",
        "token.created", "user.deactivated", "user.activated",
    ]


def test_user_commands_refuse_what_cannot_be_done_in_one_line(cli) -> None:
    assert cli("db", "upgrade").returncode == 0
    for command in ("deactivate", "tokens"):  # as every command naming a user
        missing = cli("user", command, "nobody@example.com")
        assert missing.returncode == 1, command
        assert missing.stderr.strip() == "callcenter: no user with email nobody@example.com"
    added = cli("user", "add", "ann@example.com", "--role", "agent", "--password-stdin",
                stdin=f"{PASSWORD}\n")
    assert added.returncode == 0, added.stderr
    weak = cli("user", "password", "ann@example.com", "--password-stdin", stdin="short\n")
    assert weak.returncode == 1 and "at least 10 characters" in weak.stderr
    assert "Traceback" not in weak.stderr
    assert cli("user", "deactivate", "ann@example.com").returncode == 0
    token = cli("user", "token", "ann@example.com")
    assert token.returncode == 1
    assert token.stderr.strip() == (
        "callcenter: ann@example.com is deactivated; activate the account first"
    )

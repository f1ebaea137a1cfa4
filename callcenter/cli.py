"""The `callcenter` command: serve, worker, migrations, users, queues, IVR flows, the demo."""

from __future__ import annotations

import asyncio
import getpass
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from callcenter import logs, migrate
from callcenter.accounts import service as accounts
from callcenter.accounts.models import Role
from callcenter.config import Settings, SettingsError, load_settings
from callcenter.db import create_engine, create_sessionmaker, transaction
from callcenter.flows import ivr as ivr_flows
from callcenter.flows import queues as flow_queues
from callcenter.ivr import flow as ivr_flow
from callcenter.routing import queues
from callcenter.routing.models import Strategy

T = TypeVar("T")


def _settings() -> Settings:
    """Settings for a command, or one clear line and exit status 2 when they are wrong."""
    try:
        settings = load_settings()
    except SettingsError as error:
        click.echo(f"callcenter: {error}", err=True)
        sys.exit(2)
    logs.configure(level=settings.log_level, fmt=settings.log_format)
    return settings


def _fail(message: str) -> None:
    click.echo(f"callcenter: {message}", err=True)
    sys.exit(1)


def _with_session(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run `work(session)` in one transaction: the CLI command is the boundary."""

    async def run() -> T:
        engine = create_engine(settings.database_url)
        try:
            async with transaction(create_sessionmaker(engine)) as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


async def _check_database(settings: Settings) -> str | None:
    """Why the app cannot start on this database, or None when it is reachable and migrated."""
    engine = create_engine(settings.database_url)
    try:
        current = await migrate.current_revision(engine)
    except Exception as error:  # the driver's own message is the useful part
        return f"setting CALLCENTER_DATABASE_URL: cannot reach the database ({error})"
    finally:
        await engine.dispose()
    if current != migrate.head_revision():
        return "the database schema is not up to date: run `callcenter db upgrade`"
    return None


@click.group()
@click.version_option(package_name="callcenter")
def main() -> None:
    """callcenter: an open-source contact centre on Twilio."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=int, help="Worker processes.")
def serve(host: str, port: int, workers: int) -> None:
    """Serve the web app and Twilio webhooks with Hypercorn (uvloop workers)."""
    from hypercorn.config import Config
    from hypercorn.run import run

    settings = _settings()
    if problem := settings.serving_problem() or asyncio.run(_check_database(settings)):
        _fail(problem)
    try:
        flow = ivr_flow.load(settings.ivr_flow_path)
        _with_session(settings, lambda session: flow_queues.check(session, flow=flow))
    except (OSError, ivr_flow.FlowError) as error:
        _fail(f"setting CALLCENTER_IVR_FLOW_PATH: {settings.ivr_flow_path}: {error}")
    config = Config()
    config.application_path = "callcenter.asgi:app"
    config.bind = [f"{host}:{port}"]
    config.workers = workers
    config.worker_class = "uvloop"
    config.accesslog = None  # the app logs each request itself, with its request id
    config.errorlog = logging.getLogger("hypercorn.error")  # through our formatter, once
    click.echo(f"callcenter: serving on http://{host}:{port} for {settings.public_base_url}")
    sys.exit(run(config))


@main.command()
@click.option("--threads", default=2, show_default=True, type=int, help="Worker threads.")
def worker(threads: int) -> None:
    """Run the background worker: every 5 minutes it closes calls and offers whose final
    callback Twilio never delivered, and lands finished calls on their tickets."""
    from callcenter.worker import build_huey

    settings = _settings()
    huey = build_huey(settings)
    click.echo(f"callcenter: worker on the {settings.worker_backend} queue, {threads} threads")
    huey.create_consumer(workers=threads, worker_type="thread").run()


@main.command()
@click.option("--calls", type=int, default=None, help="Place this many calls (default: forever).")
@click.option(
    "--exit",
    "exit_after",
    is_flag=True,
    help="Exit when the calls are done: 0 only if each ended as expected.",
)
@click.option("--port", default=8000, show_default=True, type=int, help="The app's port.")
@click.option(
    "--emulator-port", default=8100, show_default=True, type=int, help="The Twilio emulator's port."
)
@click.option(
    "--smtp-port", default=2525, show_default=True, type=int,
    help="The SMTP listener's port (mail to the support address).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--agents", default=4, show_default=True, type=int, help="Agent bots.")
@click.option(
    "--interval", default=1.5, show_default=True, type=float, help="Seconds between callers."
)
@click.option(
    "--clock",
    type=click.Choice(["wall", "virtual"]),
    default="wall",
    show_default=True,
    help="virtual: no real waiting (for tests).",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=Path("data/demo"),
    show_default=True,
    help="Where the demo keeps its database (wiped each run).",
)
def demo(
    calls: int | None,
    exit_after: bool,
    port: int,
    emulator_port: int,
    smtp_port: int,
    host: str,
    agents: int,
    interval: float,
    clock: str,
    data_dir: Path,
) -> None:
    """Run the whole contact centre offline: app, worker, Twilio emulator, agent bots,
    callers."""
    from callcenter.demo import configure_quiet_logs, run_demo

    if exit_after and calls is None:
        _fail("--exit needs --calls N")
    logs.configure(level="INFO", fmt="text")
    configure_quiet_logs()
    status = asyncio.run(
        run_demo(
            data_dir=data_dir,
            host=host,
            port=port,
            emulator_port=emulator_port,
            smtp_port=smtp_port,
            calls=calls,
            exit_after=exit_after,
            agents=agents,
            clock=clock,
            interval=interval,
        )
    )
    sys.exit(status)


@main.group()
def db() -> None:
    """Database schema migrations."""


@db.command()
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Upgrade the schema (to the newest revision by default)."""
    settings = _settings()
    migrate.upgrade(settings.database_url, revision)
    click.echo(f"callcenter: database upgraded to {revision}")


@db.command()
@click.argument("revision", default="-1")
def downgrade(revision: str) -> None:
    """Downgrade the schema by one revision, or to REVISION ("base" empties it)."""
    settings = _settings()
    migrate.downgrade(settings.database_url, revision)
    click.echo(f"callcenter: database downgraded to {revision}")


@main.group()
def user() -> None:
    """Users, their passwords, sign-in and API tokens."""


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != password:
        _fail("the passwords differ")
    return password


@user.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--name", default="", help="Display name.")
@click.option("--password-stdin", is_flag=True, help="Read the password as one line of stdin.")
def user_add(email: str, role: str, name: str, password_stdin: bool) -> None:
    """Add a user with a role; the password is asked for, never passed as an argument."""
    settings = _settings()
    password = _read_password(password_stdin)

    async def work(session: Any) -> tuple[int, str]:
        created = await accounts.create_user(
            session, email=email, role=Role(role), password=password, name=name
        )
        return created.id, created.email

    try:
        user_id, stored_email = _with_session(settings, work)
    except accounts.AccountError as error:
        _fail(str(error))
    click.echo(f"callcenter: added {role} {stored_email} (id {user_id})")


@user.command("token")
@click.argument("email")
@click.option("--name", default="cli", show_default=True, help="What the token is for.")
def user_token(email: str, name: str) -> None:
    """Make a new API token for a user and print it (as the last line). It is shown once."""
    settings = _settings()

    async def work(session: Any) -> str | None:
        found = await accounts.get_by_email(session, email=email)
        if found is None:
            return None
        return await accounts.create_token(session, user=found, name=name)

    try:
        token = _with_session(settings, work)
    except accounts.AccountError as error:
        _fail(str(error))
    if token is None:
        _fail(f"no user with email {email}")
    click.echo("callcenter: new API token (store it now; it cannot be shown again):")
    click.echo(token)


def _user_command(
    email: str, change: Callable[[Any, Any], Awaitable[str]]
) -> None:
    """Run `change(session, user)` on the user with `email` in one transaction; print what
    it says, or fail with one line when there is no such user or the change is refused."""
    settings = _settings()

    async def work(session: Any) -> str | None:
        found = await accounts.get_by_email(session, email=email)
        return None if found is None else await change(session, found)

    try:
        said = _with_session(settings, work)
    except accounts.AccountError as error:
        _fail(str(error))
    if said is None:
        _fail(f"no user with email {email}")
    click.echo(f"callcenter: {said}")


@user.command("password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password as one line of stdin.")
def user_password(email: str, password_stdin: bool) -> None:
    """Set a user's password; every browser signed in as them is signed out."""
    password = _read_password(password_stdin)

    async def change(session: Any, found: Any) -> str:
        ended = await accounts.set_password(session, user=found, password=password)
        return f"new password for {found.email}; {ended} session(s) signed out"

    _user_command(email, change)


@user.command("deactivate")
@click.argument("email")
def user_deactivate(email: str) -> None:
    """Stop a user signing in: their sessions end and their API tokens are revoked."""

    async def change(session: Any, found: Any) -> str:
        ended, revoked = await accounts.deactivate(session, user=found)
        return (
            f"deactivated {found.email}; {ended} session(s) signed out, "
            f"{revoked} API token(s) revoked"
        )

    _user_command(email, change)


@user.command("activate")
@click.argument("email")
def user_activate(email: str) -> None:
    """Let a deactivated user sign in again (with new API tokens: the old ones stay revoked)."""

    async def change(session: Any, found: Any) -> str:
        await accounts.activate(session, user=found)
        return f"activated {found.email}"

    _user_command(email, change)


@user.command("unlock")
@click.argument("email")
def user_unlock(email: str) -> None:
    """End a lockout after too many wrong passwords, before its time is up."""

    async def change(session: Any, found: Any) -> str:
        was_locked = accounts.is_locked(found)
        await accounts.unlock(session, user=found)
        return f"unlocked {found.email}" if was_locked else f"{found.email} was not locked"

    _user_command(email, change)


@user.command("tokens")
@click.argument("email")
def user_tokens(email: str) -> None:
    """List a user's API tokens that still work: prefix, name, made, last used."""

    async def change(session: Any, found: Any) -> str:
        tokens = (await accounts.active_tokens(session, user_ids=[found.id]))[found.id]
        lines = [f"{len(tokens)} API token(s) for {found.email}"]
        for token in tokens:
            used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
            lines.append(
                f"{token.prefix}  {token.name or '-'}  made {token.created_at:%Y-%m-%d %H:%M}"
                f"  last used {used}"
            )
        return "\n".join(lines)

    _user_command(email, change)


@user.command("revoke-token")
@click.argument("prefix")
def user_revoke_token(prefix: str) -> None:
    """Revoke the API token that starts with PREFIX (as `user tokens` lists it)."""
    settings = _settings()

    async def work(session: Any) -> int:
        found = await accounts.tokens_by_prefix(session, prefix=prefix)
        if len(found) == 1:
            await accounts.revoke_token(session, token=found[0])
        return len(found)

    matches = _with_session(settings, work)
    if matches == 0:
        _fail(f"no API token in use starts with {prefix}")
    if matches > 1:
        _fail(f"{matches} API tokens start with {prefix}; none revoked")
    click.echo(f"callcenter: revoked API token {prefix}")


@main.group()
def queue() -> None:
    """Routing queues (also on the admin page and at /api/queues)."""


@queue.command("add")
@click.argument("name")
@click.option("--expression", default="1==1", help='Which agents serve it: skills HAS "billing"')
@click.option(
    "--strategy",
    type=click.Choice([s.value for s in Strategy]),
    default=Strategy.longest_idle.value,
    show_default=True,
)
@click.option("--wrapup", "wrapup_seconds", type=click.IntRange(0, 3600), default=30)
def queue_add(name: str, expression: str, strategy: str, wrapup_seconds: int) -> None:
    """Add a queue an IVR queue node can send callers to."""
    settings = _settings()

    async def work(session: Any) -> int:
        created = await queues.create_queue(
            session, name=name, expression=expression, strategy=Strategy(strategy),
            wrapup_seconds=wrapup_seconds,
        )
        return created.id

    try:
        queue_id = _with_session(settings, work)
    except queues.QueueError as error:
        _fail(str(error))
    click.echo(f"callcenter: added queue {name} (id {queue_id})")


@queue.command("list")
def queue_list() -> None:
    """Every queue with the agents it selects and the tasks waiting in it."""
    settings = _settings()

    async def work(session: Any) -> list[str]:
        counts = await queues.counts(session)
        return [
            f"{q.name}  {q.strategy.value}  agents {counts[q.id].agents}  waiting "
            f"{counts[q.id].waiting}  expression {q.expression}"
            for q in await queues.list_queues(session)
        ]

    click.echo("\n".join(_with_session(settings, work)) or "no queues")


@main.group()
def ivr() -> None:
    """IVR flows: check, import, export, publish and roll back (calls in progress keep the
    version they started with)."""


@ivr.command("validate")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def ivr_validate(path: Path) -> None:
    """Check a YAML flow: exit 0 when valid, else one line per problem (file, line, node
    and reason) and exit 1."""
    found = ivr_flow.report(path.read_text(encoding="utf-8"), source=str(path))
    for line in found:
        click.echo(line)
    if found:
        sys.exit(1)
    click.echo(f"{path}: valid")


def _ivr_command(work: Callable[[Any], Awaitable[str]]) -> None:
    """Run `work` in one transaction; a refused flow prints its problems and exits 1."""
    try:
        click.echo(_with_session(_settings(), work))
    except ivr_flow.FlowError as error:
        for problem in error.problems:
            click.echo(f"callcenter: {problem}", err=True)
        sys.exit(1)


@ivr.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def ivr_import(path: Path) -> None:
    """Make a YAML flow its flow's draft (publish it to put it in front of callers)."""
    text = path.read_text(encoding="utf-8")

    async def work(session: Any) -> str:
        saved = await ivr_flows.import_yaml(session, text=text, source=str(path), user_id=None)
        return f"imported {saved.name!r} as its draft: `callcenter ivr publish {saved.name}`"

    _ivr_command(work)


@ivr.command("export")
@click.argument("name")
@click.option("--draft", is_flag=True, help="The draft, not the published version.")
def ivr_export(name: str, draft: bool) -> None:
    """Print a flow as YAML (its published version, or its draft)."""

    async def work(session: Any) -> str:
        return (await ivr_flows.export(session, name=name, draft=draft)).rstrip("\n")

    _ivr_command(work)


@ivr.command("publish")
@click.argument("name")
@click.option("--note", default="", help="What changed, for the version history.")
def ivr_publish(name: str, note: str) -> None:
    """Publish a flow's draft as its next version: new calls meet it at once."""

    async def work(session: Any) -> str:
        version = await ivr_flows.publish(session, name=name, note=note, user_id=None)
        return f"published {name!r} version {version.number}"

    _ivr_command(work)


@ivr.command("rollback")
@click.argument("name")
@click.argument("version", type=int)
def ivr_rollback(name: str, version: int) -> None:
    """Publish an earlier version of a flow again (as its newest version)."""

    async def work(session: Any) -> str:
        published = await ivr_flows.rollback(session, name=name, number=version, user_id=None)
        return f"rolled {name!r} back to version {version} (now version {published.number})"

    _ivr_command(work)

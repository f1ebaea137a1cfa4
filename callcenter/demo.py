"""`callcenter demo`: the whole contact centre offline, on SQLite and the Twilio emulator.

It starts the app and the emulator on this machine, makes billing, support and urgent
queues, signs in agent bots with different skills whose softphones answer and one human
agent (you, on the softphone page: their calls ring there beside the bots'), and sends
simulated callers through the IVR: first a rush (four callers for support, then a shop
that is down, who is served ahead of the support caller still waiting), then a stream of
callers who press keys, who speak, who give up in the queue, and one whose number is
blocked. With `--calls N --exit` it runs N calls and checks that each ended as expected,
that every call that got through reached a ticket, and that the urgent caller in the rush
was answered before the normal caller who had waited longer.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email.utils
import itertools
import logging
import secrets
import shutil
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import click
from aiohttp import web
from aiosmtpd.smtp import SMTP
from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter import migrate
from callcenter.accounts import service as accounts
from callcenter.accounts.models import Role
from callcenter.app import create_app
from callcenter.blocklist import service as blocklist
from callcenter.blocklist.models import BlockKind
from callcenter.config import Settings
from callcenter.customers import service as customers
from callcenter.customers.models import IdentityKind
from callcenter.db import create_engine, create_sessionmaker, transaction, utcnow
from callcenter.routing import agents as routing
from callcenter.routing import dispositions, queues
from callcenter.routing.models import Activity, Strategy, Task
from callcenter.telephony.models import Call, Outcome
from callcenter.tickets.models import Channel, Ticket, TicketEvent, TicketStatus
from callcenter.webhooks import service as webhooks
from callcenter.worker import build_huey
from twilio_emulator import AgentPhone, Emulator, EmulatorClient

SUPPORT_NUMBER = "+15005550006"
BLOCKED_NUMBER = "+14155550666"
# A shop that has been in touch before: its calls ring with a history of tickets.
RETURNING_NUMBER = "+14155550100"
ACCOUNT_SID = "AC" + "d" * 32
API_KEY_SID = "SK" + "d" * 32
HUMAN_EMAIL = "you@example.com"
SUPPORT_ADDRESS = "support@demo.test"
RETURNING_EMAIL = "dana@plantshop.test"
DISPOSITIONS = ("Resolved", "Follow-up needed", "Refund issued", "Wrong number")
DEMO_MARKER = ".callcenter-demo"


@dataclass(frozen=True)
class Scenario:
    """A kind of caller: what they do on the line and how their call should end."""

    name: str
    script: tuple[dict[str, Any], ...]
    expected: Outcome
    from_number: str | None = None


# Once an agent is on the line, the caller says why they called (a person on the
# softphone page hears it).
HELLO = ({"until": "conference"}, {"wait": 1}, {"say": "Hello, I need help with my order."})
SUPPORT = Scenario("presses 2 for support", ({"press": "2"}, *HELLO), Outcome.answered)
URGENT = Scenario(
    "presses 9: shop is down",
    ({"press": "9"}, {"until": "conference"}, {"say": "Our shop is down!"}),
    Outcome.answered,
)
# The rush that opens the demo: more support callers than support agents, then an urgent
# one, close together, so the urgent caller waits behind a normal one and must go first.
RUSH = (SUPPORT, SUPPORT, SUPPORT, SUPPORT, URGENT)
RUSH_INTERVAL = 0.4

SCENARIOS = (
    SUPPORT,
    Scenario(
        "a returning shop says 'billing'", ({"say": "billing"}, *HELLO), Outcome.answered,
        RETURNING_NUMBER,
    ),
    URGENT,
    Scenario(
        "hangs up while queued", ({"press": "1"}, {"wait": 1}, {"hangup": True}), Outcome.abandoned
    ),
    Scenario("stays silent in the menu, goes to support", HELLO, Outcome.answered),
    Scenario("calls from a blocked number", ({"press": "2"},), Outcome.blocked, BLOCKED_NUMBER),
)


@dataclass
class Placed:
    number: int
    scenario: Scenario
    sid: str
    report: dict[str, Any] | None = None
    outcome: Outcome | None = None
    landed: bool = False

    @property
    def ok(self) -> bool:
        if self.report is None or self.outcome != self.scenario.expected:
            return False
        if self.scenario.expected == Outcome.blocked:
            return self.report["answered"] is False and not self.landed
        return self.landed


# The demo's queues: (name, who serves it, strategy, description).
QUEUES = (
    ("billing", 'skills HAS "billing"', Strategy.longest_idle, "Orders, invoices, refunds"),
    ("support", 'skills HAS "support"', Strategy.fewest_calls, "Technical questions"),
    ("urgent", 'skills HAS "support"', Strategy.ring_all, "Shops that are down: ring everyone"),
)
# Agent bots' skills, in turn: three can take support, two billing.
SKILLS = (
    {"support": 3, "billing": 1},
    {"support": 2},
    {"billing": 3},
    {"billing": 2, "support": 1},
)
WRAPUP_SECONDS = 2


async def _seed(settings: Settings, *, agents: int, crm_url: str) -> tuple[str, list[str]]:
    """A fresh database with an admin, a supervisor, queues, agents with skills, one
    blocked number, and a webhook to the stand-in CRM."""
    migrate.upgrade(settings.database_url)
    password = secrets.token_urlsafe(9)
    engine = create_engine(settings.database_url)
    identities: list[str] = []
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            for name, expression, strategy, description in QUEUES:
                await queues.create_queue(
                    session, name=name, expression=expression, strategy=strategy,
                    description=description, wrapup_seconds=WRAPUP_SECONDS,
                )
            await accounts.create_user(
                session,
                email="admin@example.com",
                role=Role.admin,
                password=password,
                name="Ada Admin",
            )
            await accounts.create_user(
                session,
                email="supervisor@example.com",
                role=Role.supervisor,
                password=password,
                name="Sam Lead",
            )
            for index in range(1, agents + 1):
                user = await accounts.create_user(
                    session,
                    email=f"agent{index}@example.com",
                    role=Role.agent,
                    password=password,
                    name=f"Agent {index}",
                )
                agent = await routing.agent_for_user(session, user=user)
                # Bots answer calls only: chats from the widget go to you.
                await routing.update_profile(
                    session, agent=agent, skills=SKILLS[(index - 1) % len(SKILLS)],
                    languages=["en"] if index % 2 else ["en", "ru"],
                    capacity={"voice": 1, "chat": 0},
                )
                await routing.set_activity(session, agent=agent, activity=Activity.available)
                identities.append(agent.client_identity)
            # You: a person on the softphone page, offline until they choose Available.
            human = await accounts.create_user(
                session, email=HUMAN_EMAIL, role=Role.agent, password=password, name="Alex (you)",
            )
            agent = await routing.agent_for_user(session, user=human)
            await routing.update_profile(
                session, agent=agent, skills={"support": 2, "billing": 2}, languages=["en"]
            )
            for name in DISPOSITIONS:
                await dispositions.add(session, name=name)
            await _returning_shop(session)
            await blocklist.add(
                session,
                kind=BlockKind.exact,
                value=BLOCKED_NUMBER,
                reason="demo: a known prank caller",
            )
            await webhooks.create(
                session, name="Demo CRM", url=crm_url,
                events=[event.value for event in webhooks.SUBSCRIBABLE], actor_id=None,
            )
    finally:
        await engine.dispose()
    return password, identities


async def _start_crm(host: str) -> tuple[web.AppRunner, str]:
    """A stand-in for a team's CRM: it takes the demo's webhooks and answers 200, so the
    webhooks page (`/admin/webhooks`) has a delivery log to show."""

    async def take(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"ok": True})

    application = web.Application()
    application.router.add_post("/hooks/callcenter", take)
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, 0).start()
    return runner, f"http://{host}:{runner.addresses[0][1]}/hooks/callcenter"


class _Outbox:
    """A stand-in for the mail relay: it keeps each reply the demo's agents send as an
    .eml file in `directory`, so replies by email go somewhere you can open."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.count += 1
        (self.directory / f"{self.count:04d}.eml").write_bytes(envelope.original_content)
        return "250 OK"


async def _start_outbox(host: str, directory: Path) -> tuple[asyncio.Server, int]:
    outbox = _Outbox(directory)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(outbox, hostname="outbox.demo.test"), host, 0)
    return server, server.sockets[0].getsockname()[1]


async def _customer_writes(host: str, port: int) -> None:
    """The returning shop emails the support address: their mail joins their history."""
    message = EmailMessage()
    message["From"] = f"Dana Reyes <{RETURNING_EMAIL}>"
    message["To"] = SUPPORT_ADDRESS
    message["Subject"] = "Where is order 1207?"
    message["Message-ID"] = email.utils.make_msgid(domain="plantshop.test")
    message.set_content(
        "Hi, order 1207 was due on Monday and the tracking page has not moved.\n"
        "Could you check with the courier?\n\n-- \nDana, Dana's Plant Shop"
    )
    await aiosmtplib.send(message, hostname=host, port=port, start_tls=False)


async def _returning_shop(session: AsyncSession) -> None:
    """A shop with a history: an open ticket and older ones on every channel, so its calls
    ring with a customer, an open ticket and a last five (and its email lands there too)."""
    shop = await customers.find_or_create_by_phone(session, phone=RETURNING_NUMBER)
    shop.name = "Dana's Plant Shop"
    await customers.add_identity(
        session, customer=shop, kind=IdentityKind.email, value=RETURNING_EMAIL, region="US"
    )
    now = utcnow()
    history = (
        ("Checkout button does nothing", TicketStatus.solved, Channel.chat, 40),
        ("Refund for order 1182", TicketStatus.closed, Channel.email, 31),
        ("Shop is down!", TicketStatus.solved, Channel.phone, 22),
        ("Change the shipping rates", TicketStatus.solved, Channel.email, 12),
        ("Text about a late parcel", TicketStatus.solved, Channel.sms, 5),
        ("Invoice address is wrong", TicketStatus.pending, Channel.email, 2),
        ("Where is order 1207?", TicketStatus.open, Channel.email, 0),
    )
    for subject, status, channel, days in history:
        when = now - dt.timedelta(days=days, hours=3)
        session.add(Ticket(
            subject=subject, status=status, channel=channel, requester_id=shop.id,
            created_at=when, updated_at=when,
        ))


async def _settle(settings: Settings, placed: list[Placed], *, wait: float) -> None:
    """Read back how the app recorded each call, waiting for the last webhooks to land."""
    engine = create_engine(settings.database_url)
    sessionmaker = create_sessionmaker(engine)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    try:
        while True:
            async with sessionmaker() as session:
                for item in placed:
                    call = await session.scalar(select(Call).where(Call.sid == item.sid))
                    if call is None or not call.status.is_final:
                        continue
                    item.outcome = call.outcome
                    item.landed = (
                        await session.scalar(
                            select(TicketEvent.id).where(TicketEvent.call_id == call.id)
                        )
                        is not None
                    )
            if all(item.ok for item in placed) or loop.time() > deadline:
                return
            await asyncio.sleep(0.2)
    finally:
        await engine.dispose()


async def run_demo(
    *,
    data_dir: Path,
    host: str,
    port: int,
    emulator_port: int,
    calls: int | None,
    exit_after: bool,
    agents: int,
    clock: str,
    interval: float,
    smtp_port: int = 2525,
) -> int:
    """Run the demo; returns the process exit status."""
    demo_dir = data_dir
    _fresh_demo_dir(demo_dir)
    auth_token = secrets.token_hex(16)
    # An API Key, as a deployment has: the human agent's softphone token is signed with it.
    api_key_secret = secrets.token_urlsafe(32)
    emulator = Emulator(
        account_sid=ACCOUNT_SID, auth_token=auth_token, clock=clock,
        api_keys={API_KEY_SID: api_key_secret},
    )
    emulator_url = await emulator.start(host="127.0.0.1", port=emulator_port)
    base_url = f"http://{host}:{port}"
    outbox, outbox_port = await _start_outbox(host, demo_dir / "outbox")
    settings = Settings(
        data_dir=demo_dir,
        public_base_url=base_url,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=auth_token,
        twilio_api_key_sid=API_KEY_SID,
        twilio_api_key_secret=api_key_secret,
        twilio_api_base_url=emulator_url,
        twilio_phone_number=SUPPORT_NUMBER,
        recordings_dir=demo_dir / "recordings",
        support_address=SUPPORT_ADDRESS,
        smtp_listen_host=host,
        smtp_listen_port=smtp_port,
        smtp_host=host,
        smtp_port=outbox_port,
    )
    crm, crm_url = await _start_crm(host)
    password, identities = await _seed(settings, agents=agents, crm_url=crm_url)

    app = create_app(settings)
    config = HypercornConfig()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    stop = asyncio.Event()
    server = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    control = EmulatorClient(emulator_url, ACCOUNT_SID, auth_token)
    phones: list[AgentPhone] = []
    # The worker, as `callcenter worker` runs it, in threads of this process.
    worker = build_huey(settings).create_consumer(workers=1, worker_type="thread")
    worker.start()
    try:
        await _wait_for_port(host, port, server)
        await control.provision_number(
            SUPPORT_NUMBER,
            voice_url=f"{base_url}/twilio/voice/incoming",
            voice_fallback_url=f"{base_url}/twilio/voice/fallback",
            status_callback=f"{base_url}/twilio/voice/status",
            sms_url=f"{base_url}/twilio/sms/incoming",
        )
        for identity in identities:
            phone = AgentPhone(
                emulator_url, identity=identity, mode="accept", answer_delay=3.0, talk_seconds=8.0
            )
            await phone.connect()
            phones.append(phone)
        await _customer_writes(host, smtp_port)
        _print_banner(base_url, emulator_url, password, agents, smtp=f"{host}:{smtp_port}",
                      outbox=demo_dir / "outbox")
        placed = await _call_stream(control, calls=calls, interval=interval)
        if not exit_after:
            await asyncio.Event().wait()  # serve until interrupted
        await _settle(settings, placed, wait=30)
        return _report(placed, urgent_first=await _urgent_went_first(settings, placed))
    finally:
        for phone in phones:
            await phone.close()
        await control.close()
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server, timeout=10)
        await asyncio.to_thread(worker.stop, graceful=True)
        await emulator.stop()
        await crm.cleanup()
        outbox.close()


def _fresh_demo_dir(path: Path) -> None:
    """Empty the demo's directory, but never one the demo did not make (a real data dir)."""
    marker = path / DEMO_MARKER
    if path.exists() and any(path.iterdir()) and not marker.exists():
        raise click.ClickException(
            f"{path} is not empty and was not made by the demo; choose another --data-dir"
        )
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    marker.write_text("made by `callcenter demo`; wiped at each run\n")


async def _wait_for_port(host: str, port: int, server: asyncio.Task[None]) -> None:
    for _ in range(250):
        if server.done():
            server.result()
        try:
            _reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.02)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise RuntimeError(f"the app did not start on {host}:{port}")


async def _call_stream(
    control: EmulatorClient, *, calls: int | None, interval: float
) -> list[Placed]:
    """Place callers one after another, each a scenario in turn; wait for them to hang up."""
    placed: list[Placed] = []
    waits: list[asyncio.Task[None]] = []
    numbers = itertools.count(1) if calls is None else range(1, calls + 1)
    for number in numbers:
        rush = number <= len(RUSH)
        scenario = RUSH[number - 1] if rush else SCENARIOS[(number - 1) % len(SCENARIOS)]
        caller = scenario.from_number or f"+1415555{number % 10000:04d}"
        sid = await control.place_call(
            from_=caller, to=SUPPORT_NUMBER, script=list(scenario.script)
        )
        item = Placed(number, scenario, sid)
        placed.append(item)
        waits.append(asyncio.create_task(_await_end(control, item)))
        await asyncio.sleep(RUSH_INTERVAL if rush else interval)
    await asyncio.gather(*waits)
    return placed


async def _await_end(control: EmulatorClient, item: Placed) -> None:
    try:
        item.report = await control.wait_for_call(item.sid, timeout=600)
    except TimeoutError:
        item.report = None
    status = item.report["status"] if item.report else "still going"
    click.echo(f"  call {item.number:>3}: {item.scenario.name:<32} -> {status}")


def _print_banner(
    base_url: str, emulator_url: str, password: str, agents: int, *, smtp: str, outbox: Path
) -> None:
    click.echo(
        "\ncallcenter demo is running (SQLite + the Twilio emulator, no network needed)\n"
        f"  app:          {base_url}/  (sign in at {base_url}/login)\n"
        f"  admin page:   {base_url}/admin  (queues: /admin/queues, agents: /admin/agents)\n"
        f"  softphone:    {base_url}/agent  (as {HUMAN_EMAIL}: choose Available, and calls\n"
        f"                ring there beside the bots'; {RETURNING_NUMBER} has a history)\n"
        f"  live board:   {base_url}/board  (as the supervisor or the admin)\n"
        f"  webhooks:     {base_url}/admin/webhooks  (ticket events to a stand-in CRM)\n"
        f"  email in:     SMTP {smtp}, to {SUPPORT_ADDRESS} (Dana has written already: see\n"
        f"                /tickets); replies agents send are kept in {outbox}/\n"
        f"  chat widget:  {base_url}/chat/preview  (as {HUMAN_EMAIL}, Available: chats come\n"
        f"                to your softphone page; answer them on the ticket page)\n"
        f"  API docs:     {base_url}/api/docs\n"
        f"  emulator:     {emulator_url}  (Twilio's REST API at /2010-04-01/...)\n"
        f"  support line: {SUPPORT_NUMBER}  (calls and texts; text it as the returning shop:\n"
        f"                curl -H 'Content-Type: application/json' -d '{{\"from\": "
        f"\"{RETURNING_NUMBER}\", \"to\": \"{SUPPORT_NUMBER}\", \"body\": \"hi\"}}'\n"
        f"                {emulator_url}/_emulator/sms)\n"
        f"  logins:       {HUMAN_EMAIL}, admin@example.com, supervisor@example.com, "
        f"agent1..{agents}@example.com (bots)\n"
        f"  password:     {password}\n"
    )


async def _urgent_went_first(settings: Settings, placed: list[Placed]) -> bool | None:
    """Whether the rush's urgent caller was answered before the support caller who entered
    the line ahead of them (None when the rush was not placed in full)."""
    if len(placed) < len(RUSH):
        return None
    normal, urgent = placed[len(RUSH) - 2], placed[len(RUSH) - 1]
    engine = create_engine(settings.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            found = {}
            for item in (normal, urgent):
                found[item.sid] = await session.scalar(
                    select(Task).join(Call, Call.id == Task.call_id).where(Call.sid == item.sid)
                )
    finally:
        await engine.dispose()
    first, second = found[normal.sid], found[urgent.sid]
    if first is None or second is None or second.assigned_at is None:
        return False
    return first.entered_at < second.entered_at and (
        first.assigned_at is None or second.assigned_at < first.assigned_at
    )


def _report(placed: list[Placed], *, urgent_first: bool | None) -> int:
    click.echo("\n  #  caller                            expected   recorded   on a ticket")
    for item in placed:
        mark = "ok " if item.ok else "BAD"
        click.echo(
            f"{mark} {item.number:>3}  {item.scenario.name:<32}  {item.scenario.expected:<9}  "
            f"{item.outcome or '-':<9}  {'yes' if item.landed else 'no'}"
        )
    good = sum(item.ok for item in placed)
    click.echo(f"\n{good} of {len(placed)} calls ended as expected")
    if urgent_first is not None:
        click.echo(
            "the urgent caller was answered ahead of the support caller waiting before them"
            if urgent_first
            else "BAD: the urgent caller was not answered ahead of the waiting support caller"
        )
    return 0 if good == len(placed) and urgent_first is not False else 1


def configure_quiet_logs() -> None:
    """The demo prints its own story; the app's request log would drown it."""
    for name in ("callcenter", "hypercorn.error", "twilio_emulator", "huey"):
        logging.getLogger(name).setLevel(logging.WARNING)

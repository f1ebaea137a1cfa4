"""The event bus: what flows record reaches subscribers once committed, in this process or,
through Redis, in every instance; an instance that loses Redis keeps working and tells its
subscribers to read the store again."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from builders import make_token, make_user
from quart import Quart
from quart.testing import QuartClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from twilio_requests import call_sid, post_signed, voice_params

from callcenter import events
from callcenter.accounts.models import Role
from callcenter.config import Settings


async def _next(subscription: events.Subscription, within: float = 5) -> events.Message:
    return await asyncio.wait_for(subscription.__anext__(), timeout=within)


async def _next_named(subscription: events.Subscription, name: str) -> events.Event:
    while True:
        message = await _next(subscription)
        if isinstance(message, events.Event) and message.name == name:
            return message


def _bus(app: Quart) -> events.LocalBus:
    return app.extensions["callcenter"].bus


async def test_a_call_and_an_agent_are_heard_once_committed(
    app: Quart, client: QuartClient, settings: Settings, db_session: AsyncSession
):
    user = await make_user(db_session, role=Role.agent)
    token = await make_token(db_session, user=user)
    await db_session.commit()
    async with _bus(app).subscribe("telephony.", "routing.agent.") as heard:
        sid = call_sid()
        answer = await post_signed(
            client, settings, "/twilio/voice/incoming", voice_params(settings, sid=sid)
        )
        assert answer.status_code == 200
        started = await _next_named(heard, "telephony.call.started")
        assert started.data["call_sid"] == sid

        went = await client.put(
            "/api/agents/me/activity", json={"activity": "available"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert went.status_code == 200
        changed = await _next_named(heard, "routing.agent.state_changed")
        assert (changed.data["kind"], changed.data["state"]) == ("activity", "available")
        assert changed.data["agent_id"] == (await went.get_json())["id"]


@pytest.mark.backends("sqlite")
async def test_a_webhook_that_fails_publishes_nothing(
    app: Quart, client: QuartClient, settings: Settings, db_session: AsyncSession
):
    """The call row was inserted, then the handler failed: no one hears of a call that the
    rollback took back."""
    await db_session.execute(text("DROP TABLE identity"))
    await db_session.commit()
    async with _bus(app).subscribe("telephony.") as heard:
        answer = await post_signed(
            client, settings, "/twilio/voice/incoming", voice_params(settings, sid=call_sid())
        )
        assert "something went wrong" in await answer.get_data(as_text=True)
        with pytest.raises(TimeoutError):
            await _next(heard, within=0.5)


# --- across instances, through Redis ---------------------------------------------------------


@pytest.fixture
def redis_server(
    tmp_path: Path, free_port: int
) -> Iterator[tuple[str, Callable[[], None], int]]:
    """A Redis of this test's own, which the test may stop and start again."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is installed by scripts/install"
    started: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        started.append(subprocess.Popen(
            [binary, "--port", str(free_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL,
        ))

    start()
    yield f"redis://127.0.0.1:{free_port}/0", start, free_port
    for process in started:
        process.terminate()
        process.wait(5)


async def _redis_bus(url: str) -> events.RedisBus:
    bus = events.RedisBus(url, retry_seconds=0.1)
    await bus.start()
    await asyncio.wait_for(bus.connected.wait(), timeout=10)
    return bus


@pytest.fixture
async def two_instances(
    redis_server: tuple[str, Callable[[], None], int],
) -> AsyncIterator[tuple[events.RedisBus, events.RedisBus]]:
    url = redis_server[0]
    for _ in range(100):  # until the server accepts connections
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", redis_server[2])
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        break
    one, two = await _redis_bus(url), await _redis_bus(url)
    try:
        yield one, two
    finally:
        await one.close()
        await two.close()


@pytest.mark.backends("sqlite")
async def test_an_event_on_one_instance_reaches_the_other(
    two_instances: tuple[events.RedisBus, events.RedisBus],
):
    one, two = two_instances
    async with two.subscribe("routing.") as heard, one.subscribe("routing.") as own:
        await one.publish([events.Event("routing.task.created", {"task_id": 3})])
        theirs, mine = await _next(heard), await _next(own)
    assert isinstance(theirs, events.Event) and theirs.data == {"task_id": 3}
    assert isinstance(mine, events.Event) and mine.id == theirs.id  # heard once, not twice


@pytest.mark.backends("sqlite")
async def test_an_instance_that_loses_redis_keeps_working_and_says_resync(
    two_instances: tuple[events.RedisBus, events.RedisBus],
    redis_server: tuple[str, Callable[[], None], int],
):
    one, two = two_instances
    _url, start_again, port = redis_server
    async with one.subscribe() as heard:
        await asyncio.to_thread(
            subprocess.run, ["redis-cli", "-p", str(port), "shutdown", "nosave"],
            check=False, capture_output=True, timeout=10,
        )
        assert await _next(heard) is events.RESYNC  # others' events may be missed now
        await one.publish([events.Event("routing.agent.state_changed", {"agent_id": 1})])
        local = await _next(heard)
        assert isinstance(local, events.Event) and local.data == {"agent_id": 1}

        async with two.subscribe() as others:
            start_again()
            # Back: read the store again, here and on the other instance, which may have
            # missed what this one published while it was cut off.
            assert await _next(heard, within=10) is events.RESYNC
            assert events.RESYNC in await _drain_until_resync(others)
            await asyncio.wait_for(two.connected.wait(), timeout=10)
            await two.publish([events.Event("routing.task.created", {"task_id": 9})])
            theirs = await _next_named(heard, "routing.task.created")
            assert theirs.data == {"task_id": 9}


async def _drain_until_resync(subscription: events.Subscription) -> list[events.Message]:
    seen: list[events.Message] = []
    while events.RESYNC not in seen:
        seen.append(await _next(subscription, within=10))
    return seen


@pytest.mark.backends("sqlite")
async def test_an_instance_back_from_a_cut_tells_the_others_to_resync(
    two_instances: tuple[events.RedisBus, events.RedisBus],
):
    """What it published while cut off reached its own pages only: the others resync."""
    one, two = two_instances
    async with two.subscribe("routing.") as others:
        await one._redis.publish(events.CHANNEL, events.RESYNC_WIRE)  # what coming back sends
        assert await _next(others) is events.RESYNC

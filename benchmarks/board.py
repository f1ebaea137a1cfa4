"""Benchmark: the live board's event-to-screen time, on the same instance and across two.

    .venv/bin/python -m benchmarks.board [--events 300] [--database sqlite|postgres]
                                         [--interval 0.1] [--quick]

Two app instances (`benchmarks.serve`, as `callcenter serve`) on one database and one Redis
of the benchmark's own (`events_backend = "redis"`). Debian's chromium (Playwright) opens
the live board on instance A, signed in as a supervisor. An agent then changes activity
(available, break) through the API every --interval seconds: first --events times on
instance A itself (the baseline: the event goes through Redis and back to the same
process), then --events times on instance B (the event crosses to A through Redis).

Each change records `routing.agent.state_changed`. The board's feed reads a snapshot and
pushes it to the page, which notes the event's time (stamped in the transaction, just
before its commit) and the moment it drew the picture, on the browser's clock. Browser and
servers run on this machine, so both are the same clock. Pictures gather bursts of events,
so each picture counts once, for the newest event it follows.

Prints a table, then one JSON object as the last line of stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
from playwright.async_api import async_playwright

from benchmarks.common import HOST, Server, app_env, free_port, fresh_database, percentile
from callcenter.accounts import service as accounts
from callcenter.accounts.models import Role
from callcenter.db import create_engine, create_sessionmaker, transaction
from callcenter.routing import agents as routing

GOAL_P99_MS = 1000.0
PASSWORD = "bench-password-not-secret"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


async def _seed(url: str) -> str:
    """A supervisor, and an agent with an API token; returns the token."""
    engine = create_engine(url)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            await accounts.create_user(session, email="supervisor@bench.example.com",
                                       role=Role.supervisor, password=PASSWORD)
            agent_user = await accounts.create_user(
                session, email="agent@bench.example.com", role=Role.agent, password=PASSWORD,
                name="Bench Agent",
            )
            await routing.agent_for_user(session, user=agent_user)
            return await accounts.create_token(session, user=agent_user, name="bench")
    finally:
        await engine.dispose()


def _redis(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is missing: bash scripts/install")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
    )
    return process, f"redis://{HOST}:{port}/0"


async def _changes(base: str, token: str, count: int, interval: float) -> list[str]:
    """`count` activity changes through `base`'s API; the times just before each request."""
    sent = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        for n in range(count):
            body = {"activity": "break", "reason": "bench"} if n % 2 else {"activity": "available"}
            sent.append(dt.datetime.now(dt.UTC).isoformat())
            async with http.put(f"{base}/api/agents/me/activity", json=body) as answer:
                assert answer.status == 200, await answer.text()
            await asyncio.sleep(interval)
    return sent


def _lags(draws: list[dict[str, str]], since: str) -> list[float]:
    out = []
    for draw in draws:
        if draw["eventAt"] < since or draw["event"] != "routing.agent.state_changed":
            continue
        drawn = dt.datetime.fromisoformat(draw["drawnAt"].replace("Z", "+00:00"))
        at = dt.datetime.fromisoformat(draw["eventAt"])
        out.append((drawn - at).total_seconds() * 1000)
    return out


def _stats(values: list[float]) -> dict[str, Any]:
    return {"pictures": len(values), "p50_ms": percentile(values, 50),
            "p99_ms": percentile(values, 99), "max_ms": max(values) if values else None}


async def run(args: argparse.Namespace, workdir: Path, database_url: str) -> dict[str, Any]:
    token = await _seed(database_url)
    redis, redis_url = _redis(workdir)
    servers: list[Server] = []
    try:
        for name in ("a", "b"):
            port = free_port()
            env = app_env(database_url=database_url, port=port, workdir=workdir / name,
                          CALLCENTER_EVENTS_BACKEND="redis", CALLCENTER_REDIS_URL=redis_url)
            servers.append(await asyncio.to_thread(
                Server, "callcenter.asgi:app", port, env, workdir / f"{name}.log"))
        a, b = (f"http://{HOST}:{server.port}" for server in servers)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                       args=CHROMIUM_ARGS)
            page = await browser.new_page()
            await page.goto(f"{a}/login?next=/board")
            await page.get_by_label("Email").fill("supervisor@bench.example.com")
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Sign in").click()
            await page.get_by_role("status").filter(has_text="Live").wait_for()
            results = {}
            for label, base in (("same_instance", a), ("across_instances", b)):
                sent = await _changes(base, token, args.events, args.interval)
                await asyncio.sleep(1)  # the last picture
                draws = await page.evaluate("() => window.boardDraws")
                results[label] = {"events": len(sent), **_stats(_lags(draws, sent[0]))}
            await browser.close()
    finally:
        for server in servers:
            await asyncio.to_thread(server.stop)
        redis.terminate()
        redis.wait(5)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between changes")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--quick", action="store_true", help="30 events")
    args = parser.parse_args()
    if args.quick:
        args.events = 30
    with tempfile.TemporaryDirectory(prefix="bench-board-") as tmp:
        database = fresh_database(args.database, Path(tmp))  # runs its own event loop
        results = asyncio.run(run(args, Path(tmp), database.url))
    print(f"\nLive board, event to screen ({args.database}, {args.events} events "
          f"{args.interval:g} s apart, two instances, Redis)")
    print(f"{'where the event happened':<26}{'pictures':>9}{'p50':>10}{'p99':>10}{'max':>10}")
    for label, row in results.items():
        print(f"{label.replace('_', ' '):<26}{row['pictures']:>9}{row['p50_ms']:>9.1f}ms"
              f"{row['p99_ms']:>9.1f}ms{row['max_ms']:>9.1f}ms")
    across = results["across_instances"]["p99_ms"]
    goal_met = across is not None and across < GOAL_P99_MS
    print(f"\nGoal: across instances p99 < {GOAL_P99_MS:g} ms: {'met' if goal_met else 'MISSED'}")
    print(json.dumps({"benchmark": "board", "database": args.database, "events": args.events,
                      "interval_s": args.interval, "results": results,
                      "goal": {"p99_ms": GOAL_P99_MS}, "goal_met": goal_met}))


if __name__ == "__main__":
    main()

"""Benchmark: N concurrent calls end to end through the Twilio emulator.

    .venv/bin/python -m benchmarks.calls [--calls 200] [--agents N/2] [--clock virtual|wall]
                                         [--database sqlite|postgres] [--quick]

The app runs in its own process (`benchmarks.serve`: Hypercorn, uvloop, 1 worker, as
`callcenter serve`); the emulator and the agents' softphone bots run in this process. All N
callers dial at once, press 2 for support, wait in the queue until an agent bot answers,
talk for --talk seconds and are hung up on by the agent. On the virtual clock (default)
rings, prompts, queue waits and talk time cost no real time, so the wall time is the
software's own. Checked per call: the emulator's report says completed and answered, and the
app recorded it as answered and landed it on a ticket. Webhook latency is the app's own
`http.request` log (`ms`, before_request to after_request, commit included) and, as the
emulator saw it, the round trip of each signed webhook request.

Prints a table, then one JSON object as the last line of stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from benchmarks.common import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    HOST,
    SUPPORT_NUMBER,
    Server,
    app_env,
    free_port,
    fresh_database,
    percentile,
    seed,
)
from callcenter.db import create_engine, create_sessionmaker
from callcenter.telephony.models import Call, Outcome
from callcenter.tickets.models import TicketEvent
from twilio_emulator import AgentPhone, Emulator, EmulatorClient
from twilio_emulator import webhooks as emulator_webhooks

GOAL_CALLS = 200
SCRIPT = [{"press": "2"}]


def _time_emulator_webhooks(samples: list[tuple[str, float]]) -> None:
    """Record each webhook's real round trip as the emulator makes it (this process only)."""
    original = emulator_webhooks.WebhookSender.send

    async def timed(self: Any, url: str, params: Any, method: str = "POST") -> Any:
        started = time.perf_counter()
        try:
            return await original(self, url, params, method)
        finally:
            samples.append((urlsplit(url).path, (time.perf_counter() - started) * 1000))

    emulator_webhooks.WebhookSender.send = timed  # type: ignore[method-assign]


async def _app_records(url: str, sids: list[str]) -> dict[str, tuple[Outcome | None, bool]]:
    """How the app recorded each call: (outcome, landed on a ticket), once final."""
    engine = create_engine(url)
    records: dict[str, tuple[Outcome | None, bool]] = {}
    try:
        async with create_sessionmaker(engine)() as session:
            rows = (await session.execute(select(Call).where(Call.sid.in_(sids)))).scalars()
            calls = {call.sid: call for call in rows}
            landed = set(
                (await session.execute(
                    select(TicketEvent.call_id).where(
                        TicketEvent.call_id.in_([c.id for c in calls.values()])
                    )
                )).scalars()
            )
            for sid in sids:
                call = calls.get(sid)
                if call is None or not call.status.is_final:
                    records[sid] = (None, False)
                else:
                    records[sid] = (call.outcome, call.id in landed)
    finally:
        await engine.dispose()
    return records


async def run(args: argparse.Namespace, workdir: Path, database_url: str,
              identities: list[str]) -> dict[str, Any]:
    emulator_samples: list[tuple[str, float]] = []
    _time_emulator_webhooks(emulator_samples)
    emulator = Emulator(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, clock=args.clock)
    emulator_url = await emulator.start(host=HOST, port=0)
    port = free_port()
    env = app_env(database_url=database_url, port=port, workdir=workdir,
                  CALLCENTER_TWILIO_API_BASE_URL=emulator_url)
    log_path = workdir / "app.log"
    server: Server | None = None
    control = EmulatorClient(emulator_url, ACCOUNT_SID, AUTH_TOKEN)
    phones: list[AgentPhone] = []
    try:
        server = await asyncio.to_thread(Server, "callcenter.asgi:app", port, env, log_path)
        base = f"http://{HOST}:{port}"
        await control.provision_number(
            SUPPORT_NUMBER,
            voice_url=f"{base}/twilio/voice/incoming",
            voice_fallback_url=f"{base}/twilio/voice/fallback",
            status_callback=f"{base}/twilio/voice/status",
        )
        for identity in identities:
            phone = AgentPhone(emulator_url, identity=identity, mode="accept",
                               answer_delay=1.0, talk_seconds=args.talk)
            await phone.connect()
            phones.append(phone)
        emulator_samples.clear()
        started = time.perf_counter()
        sids = await asyncio.gather(*(
            control.place_call(from_=f"+1212{n:07d}", to=SUPPORT_NUMBER, script=SCRIPT)
            for n in range(args.calls)
        ))
        placed_s = time.perf_counter() - started

        async def wait(sid: str) -> dict[str, Any] | None:
            try:
                return await control.wait_for_call(sid, timeout=args.timeout)
            except TimeoutError:
                return None

        reports = await asyncio.gather(*(wait(sid) for sid in sids))
        elapsed = time.perf_counter() - started
        # The last callbacks (status, agent leg) may still be in flight: let the app settle.
        deadline = time.perf_counter() + 30
        while True:
            records = await _app_records(database_url, list(sids))
            if all(o == Outcome.answered and landed for o, landed in records.values()):
                break
            if time.perf_counter() > deadline:
                break
            await asyncio.sleep(0.5)
        emulator_log = list(emulator.log)
    finally:
        for phone in phones:
            await phone.close()
        await control.close()
        if server is not None:
            await asyncio.to_thread(server.stop)
        await emulator.stop()

    bad: list[dict[str, Any]] = []
    for sid, report in zip(sids, reports, strict=True):
        outcome, landed = records[sid]
        ok = (report is not None and report["status"] == "completed" and report["answered"]
              and outcome == Outcome.answered and landed)
        if not ok:
            bad.append({"sid": sid, "emulator": report and report["status"],
                        "outcome": outcome and str(outcome), "landed": landed,
                        "errors": report and report.get("errors"),
                        "webhooks": report and [
                            (e.get("url"), e.get("status"), e.get("t"))
                            for e in report["trace"] if e.get("event") == "webhook"
                        ][:4]})
    return {
        "placed_s": placed_s,
        "elapsed_s": elapsed,
        "bad": bad,
        "emulator_log": emulator_log,
        "emulator_samples": emulator_samples,
        "app_samples": _app_samples(log_path),
        "app_log_errors": _app_errors(log_path),
    }


def _app_samples(log_path: Path) -> list[tuple[str, float]]:
    samples = []
    for line in log_path.read_text(errors="replace").splitlines():
        if '"http.request"' not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if str(record.get("path", "")).startswith("/twilio/"):
            samples.append((record["path"], float(record["ms"])))
    return samples


def _app_errors(log_path: Path) -> list[str]:
    lines = log_path.read_text(errors="replace").splitlines()
    return [line[:300] for line in lines if '"level": "ERROR"' in line or "Traceback" in line]


def _stats(samples: list[tuple[str, float]]) -> dict[str, Any]:
    values = [ms for _, ms in samples]
    by_path: dict[str, list[float]] = defaultdict(list)
    for path, ms in samples:
        by_path[path].append(ms)
    return {
        "count": len(values),
        "p50_ms": percentile(values, 50),
        "p99_ms": percentile(values, 99),
        "max_ms": max(values) if values else None,
        "by_path": {
            path: {"count": len(v), "p50_ms": percentile(v, 50), "p99_ms": percentile(v, 99)}
            for path, v in sorted(by_path.items())
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=GOAL_CALLS)
    parser.add_argument("--agents", type=int, default=None, help="agent bots (default calls/2)")
    parser.add_argument("--talk", type=float, default=5.0, help="agent talk seconds (clock)")
    parser.add_argument("--clock", choices=["virtual", "wall"], default="virtual")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="real seconds to wait for each call to end")
    parser.add_argument("--quick", action="store_true", help="20 calls, 10 agents")
    args = parser.parse_args()
    if args.quick:
        args.calls, args.timeout = 20, min(args.timeout, 120.0)
    agents = args.agents or max(1, args.calls // 2)

    workdir = Path(tempfile.mkdtemp(prefix="callcenter-bench-calls-"))
    db = fresh_database(args.database, workdir)
    try:
        identities = asyncio.run(seed(db.url, agents=agents))
        print(f"[calls] {args.calls} calls, {agents} agents, {args.clock} clock, "
              f"{args.database}", file=sys.stderr)
        raw = asyncio.run(run(args, workdir, db.url, identities))
    finally:
        db.drop()
        shutil.rmtree(workdir, ignore_errors=True)

    app = _stats(raw["app_samples"])
    emu = _stats(raw["emulator_samples"])
    errors = len(raw["bad"]) + len(raw["emulator_log"]) + len(raw["app_log_errors"])
    calls_per_s = args.calls / raw["elapsed_s"]
    goal_ok = args.calls >= GOAL_CALLS and errors == 0
    print(f"\n{args.calls} concurrent calls end to end ({agents} agent bots, talk {args.talk:g} s, "
          f"{args.clock} clock, {args.database}, app: Hypercorn uvloop 1 worker)\n")
    print(f"  wall time, all calls:          {raw['elapsed_s']:8.1f} s "
          f"(placing them: {raw['placed_s']:.1f} s)")
    print(f"  calls/s sustained:             {calls_per_s:8.2f}")
    print(f"  webhooks per call:             {app['count'] / max(1, args.calls):8.1f}")
    for label, s in (("app", app), ("emulator", emu)):
        print(f"  webhook p50 / p99 ({label + '):':<11}  "
              f"{s['p50_ms'] or 0:8.1f} / {s['p99_ms'] or 0:.1f} ms")
    print(f"  calls not ended as expected:   {len(raw['bad']):8d}")
    print(f"  emulator log entries:          {len(raw['emulator_log']):8d}")
    print(f"  app log errors:                {len(raw['app_log_errors']):8d}")
    print("\n  path                               count   app p50   app p99")
    for path, s in app["by_path"].items():
        print(f"  {path:<33} {s['count']:>6} {s['p50_ms']:>7.1f}ms {s['p99_ms']:>7.1f}ms")
    for item in raw["bad"][:5]:
        print(f"  BAD {item}")
    for entry in raw["emulator_log"][:5]:
        print(f"  emulator log: {entry}")
    for line in raw["app_log_errors"][:5]:
        print(f"  app error: {line}")
    print(f"\nGoal: {GOAL_CALLS} concurrent calls, 0 errors: {'PASS' if goal_ok else 'FAIL'}"
          + ("" if args.calls >= GOAL_CALLS else f" (only {args.calls} calls run)") + "\n")
    print(json.dumps({
        "benchmark": "calls",
        "quick": args.quick,
        "calls": args.calls,
        "agents": agents,
        "clock": args.clock,
        "database": args.database,
        "elapsed_s": round(raw["elapsed_s"], 2),
        "calls_per_s": round(calls_per_s, 2),
        "webhooks_app": app,
        "webhooks_emulator": emu,
        "bad_calls": len(raw["bad"]),
        "bad_examples": raw["bad"][:5],
        "emulator_log": raw["emulator_log"][:20],
        "emulator_log_count": len(raw["emulator_log"]),
        "app_log_errors": len(raw["app_log_errors"]),
        "errors": errors,
        "goal_200_calls_0_errors": goal_ok,
    }, default=str))


if __name__ == "__main__":
    main()

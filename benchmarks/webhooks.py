"""Benchmark: the incoming-call webhook against a bare Quart handler, same Hypercorn set-up.

    .venv/bin/python -m benchmarks.webhooks [--database sqlite|postgres|both] [--quick]

Per database: the real app (`callcenter.asgi:app`, settings from CALLCENTER_* env) and
`benchmarks.bare_app` are each served in their own process by `benchmarks.serve` (Hypercorn,
uvloop worker class, 1 worker, as `callcenter serve`). Load comes from other processes:

* saturation: Debian's wrk, 1 thread, 64 connections, 10 s, cycling through pre-signed
  request bodies (benchmarks/signed.lua); every body has a new CallSid and caller number, so
  each webhook request inserts a call and a customer row;
* latency: benchmarks.loadgen, open loop at 500 req/s for 10 s, latency measured from each
  request's scheduled send time.

Prints a table, then one JSON object as the last line of stdout. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from benchmarks.common import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    HOST,
    ROOT,
    SUPPORT_NUMBER,
    Server,
    app_env,
    free_port,
    fresh_database,
    scalar,
    seed,
)

PATH = "/twilio/voice/incoming"
CONNECTIONS = 64
RATE = 500.0
GOAL_RATIO = 0.5
GOAL_P99_MS = 50.0
WRK = shutil.which("wrk") or "/usr/bin/wrk"


def _params(index: int, area: int) -> dict[str, str]:
    """What Twilio posts for a new inbound call (the usual geo fields included)."""
    caller = f"+1{area:03d}{index:07d}"
    return {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": f"CA{area:03d}{index:029x}",
        "CallStatus": "ringing",
        "Called": SUPPORT_NUMBER,
        "CalledCountry": "US",
        "CalledState": "CA",
        "Caller": caller,
        "CallerCountry": "US",
        "CallerState": "NY",
        "Direction": "inbound",
        "From": caller,
        "FromCity": "NEW YORK",
        "FromCountry": "US",
        "FromState": "NY",
        "FromZip": "10001",
        "To": SUPPORT_NUMBER,
        "ToCountry": "US",
        "ToState": "CA",
    }


def _sign(url: str, params: dict[str, str]) -> str:
    """Twilio's algorithm (URL + sorted name/value pairs, HMAC-SHA1, base64), ~40x faster than
    RequestValidator.compute_signature; checked against it in write_bodies."""
    message = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(AUTH_TOKEN.encode(), message.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def write_bodies(path: Path, count: int, *, url: str, area: int) -> float:
    """`count` lines "signature<TAB>body", each a distinct call; returns seconds taken."""
    started = time.perf_counter()
    validator = RequestValidator(AUTH_TOKEN)
    with path.open("w") as out:
        for index in range(count):
            params = _params(index, area)
            signature = _sign(url, params)
            if index < 3:
                assert signature == validator.compute_signature(url, params)
            out.write(f"{signature}\t{urlencode(params)}\n")
    return time.perf_counter() - started


def run_wrk(port: int, bodies: Path, seconds: float, connections: int) -> dict:
    command = [
        WRK, "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s",
        "-s", str(ROOT / "benchmarks" / "signed.lua"), f"http://{HOST}:{port}{PATH}",
    ]
    out = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 60, check=True,
        env={"BENCH_BODIES": str(bodies), "PATH": "/usr/bin:/bin"},
    ).stdout
    match = re.search(r"^WRKJSON (.*)$", out, re.M)
    if match is None:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    result = json.loads(match.group(1))
    result["rps"] = round(result["requests"] / result["duration_s"], 1)
    result["bodies_repeated"] = result["requests"] > result["bodies"]
    return result


def run_loadgen(port: int, bodies: Path, rate: float, seconds: float) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.loadgen", f"http://{HOST}:{port}{PATH}", str(bodies),
         str(rate), str(seconds)],
        capture_output=True, text=True, timeout=seconds + 90, check=True, cwd=ROOT,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def _calls(url: str) -> int:
    """Calls in the database once the server has finished what wrk left in flight."""
    last, deadline = -1, time.monotonic() + 30
    while time.monotonic() < deadline:
        now = int(asyncio.run(scalar(url, "SELECT count(*) FROM call")))  # type: ignore[arg-type]
        if now == last:
            return now
        last = now
        time.sleep(1.0)
    return last


def _log_problems(log: Path) -> dict[str, int]:
    counts = {"webhook_failed": 0, "errors": 0, "warnings": 0}
    for line in log.read_text(errors="replace").splitlines():
        if "telephony.webhook.failed" in line:
            counts["webhook_failed"] += 1
        if '"level": "ERROR"' in line or "Traceback" in line:
            counts["errors"] += 1
        if '"level": "WARNING"' in line:
            counts["warnings"] += 1
    return counts


def bench_database(kind: str, workdir: Path, *, seconds: float, lat_seconds: float,
                   sat_bodies: int) -> dict:
    db = fresh_database(kind, workdir)
    try:
        asyncio.run(seed(db.url, agents=4))
        port = free_port()
        url = f"http://{HOST}:{port}{PATH}"
        files = {name: workdir / f"{kind}-{name}.tsv" for name in ("warm", "sat", "lat")}
        sign_s = write_bodies(files["warm"], 3000, url=url, area=201)
        sign_s += write_bodies(files["sat"], sat_bodies, url=url, area=202)
        sign_s += write_bodies(files["lat"], int(RATE * lat_seconds), url=url, area=203)
        print(f"[{kind}] signed {3000 + sat_bodies + int(RATE * lat_seconds)} request bodies "
              f"in {sign_s:.1f} s", file=sys.stderr)
        out: dict = {"signing_s": round(sign_s, 1)}
        for target, application in (("bare", "benchmarks.bare_app:app"),
                                    ("webhook", "callcenter.asgi:app")):
            env = app_env(database_url=db.url, port=port, workdir=workdir)
            log = workdir / f"{kind}-{target}.log"
            print(f"[{kind}] {target}: warm-up, saturation, then {RATE:g} req/s",
                  file=sys.stderr)
            with Server(application, port, env, log):
                run_wrk(port, files["warm"], 2, 8)
                before = _calls(db.url)
                sat = run_wrk(port, files["sat"], seconds, CONNECTIONS)
                middle = _calls(db.url)
                lat = run_loadgen(port, files["lat"], RATE, lat_seconds)
                after = _calls(db.url)
            if target == "webhook":
                sat["rows_inserted"] = middle - before
                lat["rows_inserted"] = after - middle
            out[target] = {"saturation": sat, "fixed_rate": lat, "log": _log_problems(log)}
        bare, hook = out["bare"], out["webhook"]
        out["rps_ratio"] = round(hook["saturation"]["rps"] / bare["saturation"]["rps"], 3)
        out["p99_ratio"] = round(hook["fixed_rate"]["p99_ms"] / bare["fixed_rate"]["p99_ms"], 2)
        out["goals"] = {
            f"webhook_rps>={GOAL_RATIO}x_bare": out["rps_ratio"] >= GOAL_RATIO,
            f"webhook_p99<{GOAL_P99_MS:g}ms@{RATE:g}rps": hook["fixed_rate"]["p99_ms"] < GOAL_P99_MS
            and hook["fixed_rate"]["errors"] == 0 and hook["fixed_rate"]["incomplete"] == 0,
        }
        return out
    finally:
        db.drop()


def print_table(results: dict) -> None:
    print(f"\nIncoming-call webhook vs bare Quart handler (Hypercorn, uvloop, 1 worker, {HOST})")
    print(f"saturation: wrk -t1 -c{CONNECTIONS}; fixed rate: open loop {RATE:g} req/s\n")
    head = (f"{'database':<9} {'server':<8} {'req/s':>8} {'sat p50':>8} {'sat p99':>8} "
            f"{'@500 p50':>9} {'@500 p99':>9} {'errors':>7} {'rows':>13}")
    print(head)
    print("-" * len(head))
    for kind, res in results.items():
        for target in ("bare", "webhook"):
            sat, lat = res[target]["saturation"], res[target]["fixed_rate"]
            errs = (sat["status_errors"] + sat["timeouts"] + sat["connect_errors"]
                    + sat["read_errors"] + lat["errors"] + lat["incomplete"]
                    + res[target]["log"]["webhook_failed"])
            rows = (f"{sat.get('rows_inserted', '-')}/{lat.get('rows_inserted', '-')}"
                    if target == "webhook" else "-")
            print(f"{kind:<9} {target:<8} {sat['rps']:>8.0f} {sat['p50_ms']:>6.1f}ms "
                  f"{sat['p99_ms']:>6.1f}ms {lat['p50_ms']:>7.1f}ms {lat['p99_ms']:>7.1f}ms "
                  f"{errs:>7} {rows:>13}")
        print(f"{kind:<9} ratio    {res['rps_ratio']:>8.2f}x{'':>18} p99 x{res['p99_ratio']}")
    print("\nGoals:")
    for kind, res in results.items():
        for goal, ok in res["goals"].items():
            print(f"  [{kind}] {goal}: {'PASS' if ok else 'FAIL'}")
    print("(rows = calls inserted during saturation / fixed-rate runs; errors = non-2xx, "
          "socket errors, timeouts, handler failures answered with the apology)\n")


def _set_rate(rate: float) -> None:
    """Latency at a rate the server can sustain tells apart queueing from per-request cost."""
    global RATE
    RATE = rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="2 s runs: a smoke test")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each run")
    parser.add_argument("--rate", type=float, default=RATE,
                        help="offered req/s for the latency run (the goal is set at 500)")
    args = parser.parse_args()
    _set_rate(args.rate)
    seconds = 2.0 if args.quick else args.seconds
    kinds = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    results: dict = {}
    workdir = Path(tempfile.mkdtemp(prefix="callcenter-bench-"))
    try:
        for kind in kinds:
            # Enough distinct bodies for ~4000 req/s; wrk cycles only if a run needs more.
            results[kind] = bench_database(
                kind, workdir, seconds=seconds, lat_seconds=seconds,
                sat_bodies=int(4000 * seconds) + 2000,
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print_table(results)
    summary = {
        "benchmark": "webhooks",
        "quick": args.quick,
        "seconds": seconds,
        "connections": CONNECTIONS,
        "rate": RATE,
        "results": results,
        "all_goals_met": all(all(res["goals"].values()) for res in results.values()),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

"""An open-loop load generator: POST signed webhooks at a fixed rate, whatever the server does.

    python -m benchmarks.loadgen URL BODIES_FILE RATE SECONDS

Request k is due at start + k/RATE and is sent then (or as soon as the client can), on its
own task: a slow response does not delay the next request (no coordinated omission).
Latency is measured from the *scheduled* time to the end of the response, so any queueing,
in the server or in this client, counts against the server. Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiohttp
import uvloop

MAX_CONNECTIONS = 512


def _pct(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, round(pct / 100 * len(ordered) + 0.4999))) - 1]


async def run(url: str, lines: list[tuple[str, str]], rate: float, seconds: float) -> dict:
    total = int(rate * seconds)
    if total > len(lines):
        raise SystemExit(f"loadgen: {total} requests need {total} bodies, got {len(lines)}")
    latencies: list[float] = []
    lag: list[float] = []
    statuses: dict[str, int] = {}
    errors = 0
    connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS)
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

        async def one(due: float, signature: str, body: str) -> None:
            nonlocal errors
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": signature,
                "User-Agent": "TwilioProxy/1.1",
            }
            try:
                async with http.post(url, data=body.encode(), headers=headers) as resp:
                    await resp.read()
                    key = str(resp.status)
            except (aiohttp.ClientError, TimeoutError) as exc:
                errors += 1
                key = type(exc).__name__
            statuses[key] = statuses.get(key, 0) + 1
            latencies.append((time.perf_counter() - due) * 1000)

        tasks: set[asyncio.Task[None]] = set()
        start = time.perf_counter() + 0.05
        for k in range(total):
            due = start + k / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            lag.append((time.perf_counter() - due) * 1000)
            task = asyncio.create_task(one(due, *lines[k]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        sent_for = time.perf_counter() - start
        if tasks:
            await asyncio.wait(set(tasks), timeout=20)
        elapsed = time.perf_counter() - start
    return {
        "offered_rps": rate,
        "requests": total,
        "completed": len(latencies),
        "achieved_send_rps": round(total / sent_for, 1) if sent_for > 0 else None,
        "completed_rps": round(len(latencies) / elapsed, 1),
        "errors": errors,
        "incomplete": total - len(latencies),  # still unanswered 20 s after the last send
        "statuses": statuses,
        "p50_ms": _pct(latencies, 50),
        "p90_ms": _pct(latencies, 90),
        "p99_ms": _pct(latencies, 99),
        "max_ms": max(latencies) if latencies else None,
        "client_send_lag_p99_ms": _pct(lag, 99),
    }


def main() -> None:
    url, path, rate, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    with open(path) as handle:
        lines = [tuple(line.rstrip("\n").split("\t", 1)) for line in handle]
    result = uvloop.run(run(url, lines, rate, seconds))  # type: ignore[arg-type]
    print(json.dumps(result))


if __name__ == "__main__":
    main()

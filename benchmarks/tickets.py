"""Benchmark: the ticket workspace's hot reads (Last Five, a customer's timeline) at
1,000,000 tickets and 10,000,000 ticket events, against the same queries without their
indexes measured in the same run.

    .venv/bin/python -m benchmarks.tickets [--database sqlite|postgres|both]
                                           [--database-url URL] [--quick] [--explain]
                                           [--tickets N] [--events N] [--customers N]
                                           [--iterations N] [--scans N]
                                           [--sqlite-load sql|executemany]

Per database: a fresh, migrated database (an SQLite file in a temporary directory; on
PostgreSQL the scratch database BENCH_PG_TICKETS_DB, made and dropped through
BENCH_PG_ADMIN_URL; or an empty database you name with --database-url, left in place).
The secondary indexes of ticket and ticket_event are dropped (their definitions kept as
the migrations made them), then the data is generated set-based in SQL:
`INSERT ... SELECT` over `generate_series` / `unnest` on PostgreSQL, over a recursive CTE
and plan tables filled from Python on SQLite (a plain sqlite3 connection, synchronous=OFF).
`--sqlite-load executemany` builds the event rows in Python instead and sends them in
chunks, for comparison. Values are deterministic: arithmetic on the row number, and a
seeded random for the shape.

* 200,000 customers; tickets per customer skewed: ~98% of customers have 1-10 (mostly
  1-5), 2% have 20-80 and 0.2% have 200-800 (the "heavy" ones: >= HEAVY tickets).
  Tickets are spread over the id range (a customer's tickets are not adjacent), opened
  over three years, with a status, priority, channel, tags, SLA times.
* 10 events per ticket on average (drawn 1-2 for 15% of tickets, 3-12 for 55%, 13-25 for
  25%, 26-60 for 5%, then scaled to --events: p50 8, p99 48, max 53 at the defaults),
  kinds call 25%, voicemail 5%, email 25%, chat 8%, sms 5%, web 4%, note 18%,
  field_change 10%; bodies of 20-200 characters, JSON data. Event ids interleave the
  tickets of a block of BLOCK tickets, as events of tickets open at the same time do.

Then, per database:

1. the other secondary indexes (status, assignee, SLA, call) are made again, statistics
   taken (PostgreSQL VACUUM ANALYZE, SQLite ANALYZE);
2. the baseline: the queries below without `ix_ticket_requester_updated`,
   `ix_ticket_requester_id` and `ix_ticket_event_ticket_id_id` (every index whose first
   column is ticket.requester_id or ticket_event.ticket_id): full scans, --scans calls
   each;
3. those indexes made exactly as the migrations define them, ANALYZE, a warm-up, and the
   indexed path, --iterations calls each:

* Last Five: `tickets.service.recent_for(customer_id=..., besides=one of their tickets)`;
  goal p99 < GOAL_P99_MS ms on each database;
* the customer timeline: `tickets.service.customer_timeline(customer_id=..., limit=50)`,
  and its second page (`before_id` = the oldest event of the first page) for the customers
  whose first page was full;
* for scale, a floor: `SELECT 1` through a session.

Each call is timed alone in a fresh session whose transaction has begun (so neither the
session nor BEGIN is in the figure), rolled back after. Every HEAVY_SHARE-th measured
customer is a heavy one, the others are drawn from the rest; figures are given for all,
typical and heavy customers. The baseline's answers (for the first --scans customers)
must equal the indexed path's.

Prints a table, then one JSON object as the last line of stdout; progress on stderr.
See docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import gc
import json
import math
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from benchmarks.common import Target, fresh_target, percentile
from callcenter import models as _models  # noqa: F401  (every table's mapper, for the ORM)
from callcenter.db import create_engine, create_sessionmaker
from callcenter.tickets import service

PG_TICKETS_DB = os.environ.get("BENCH_PG_TICKETS_DB", "callcenter_bench_tickets")
CUSTOMERS = 200_000
TICKETS = 1_000_000
EVENTS = 10_000_000
QUICK = {"customers": 4_000, "tickets": 20_000, "events": 200_000, "iterations": 200,
         "scans": 5}
GOAL_P99_MS = 5.0
PAGE = 50  # the timeline's page
HEAVY = 100  # a customer with at least this many tickets is a heavy one
HEAVY_SHARE = 5  # every fifth measured customer is a heavy one
BLOCK = 1_000  # tickets whose events interleave in id order
MAX_EVENTS = 120  # per ticket
WARMUP = 200
SEED = 20261203
# The data's own clock: tickets opened over three years, the last 40 days before this.
EPOCH = int(dt.datetime(2026, 12, 1, tzinfo=dt.UTC).timestamp())
SPAN = (3 * 365 - 40) * 86400
START = EPOCH - 40 * 86400 - SPAN
CHUNK = 1_000_000  # events per INSERT (progress, and the executemany batch)
# The arithmetic "random" values: x * a mod 2**32, scaled (a Weyl sequence). Each field has
# its own a = 2**32 * frac(sqrt(n)) (odd), n square-free, so the fields are independent.
MULT = tuple(int(2**32 * (math.sqrt(n) % 1)) | 1
             for n in (2, 3, 6, 7, 11, 13, 14, 19, 21, 22, 23, 29, 31, 33))
LOREM = ("Hello, my order has not arrived yet and the tracking page says nothing. Could you "
         "check what happened, and whether it can still be delivered this week? I was "
         "charged twice for it as well; please refund the second payment to my card. Thanks!")
TICKET_STATUS = ((5, "new"), (20, "open"), (30, "pending"), (33, "on_hold"), (63, "solved"),
                 (100, "closed"))
TICKET_PRIORITY = ((20, "low"), (80, "normal"), (95, "high"), (100, "urgent"))
TICKET_CHANNEL = ((45, "phone"), (80, "email"), (90, "chat"), (95, "sms"), (100, "web"))
EVENT_KIND = ((25, "call"), (30, "voicemail"), (55, "email"), (63, "chat"), (68, "sms"),
              (72, "web"), (90, "note"), (100, "field_change"))
SUBJECTS = ("Order not delivered", "Refund request", "Cannot sign in", "Charged twice",
            "Change of address", "Question about my invoice", "Cancel my subscription",
            "The shop is slow")


# ---------------------------------------------------------------- the data's shape


def h(x: int, k: int, m: int) -> int:
    """0 <= h < m from x (Python twin of `_h`, the SQL that seeds)."""
    return (x * MULT[k] % 4294967296) * m // 4294967296


def _h(x: str, k: int, m: int) -> str:
    return f"((({x}) * {MULT[k]} % 4294967296) * {m} / 4294967296)"


def _case(u: str, buckets: tuple[tuple[int, str], ...]) -> str:
    whens = " ".join(f"WHEN {u} < {upto} THEN '{value}'" for upto, value in buckets[:-1])
    return f"CASE {whens} ELSE '{buckets[-1][1]}' END"


def _pick(u: int, buckets: tuple[tuple[int, str], ...]) -> str:
    return next(value for upto, value in buckets if u < upto)


def apportion(weights: list[float], total: int) -> list[int]:
    """Whole numbers in proportion to `weights` summing to `total` (largest remainder)."""
    scale = total / sum(weights)
    exact = [w * scale for w in weights]
    counts = [int(x) for x in exact]
    short = total - sum(counts)
    for i in sorted(range(len(exact)), key=lambda i: counts[i] - exact[i])[:short]:
        counts[i] += 1
    return counts


@dataclass
class Shape:
    customers: int
    tickets: int
    events: int
    requester: list[int]  # [ticket id - 1] -> customer id
    per_ticket: list[int]  # [ticket id - 1] -> its number of events
    # The event-id layout: for each block of BLOCK tickets and each seq s, the `count`
    # first tickets of the block have an s-th event (a block's tickets are ordered by
    # their number of events, most first), with ids offset+1 .. offset+count.
    layout: list[tuple[int, int, int, int]]  # (block, seq, count, offset)
    seconds: float = 0.0


def make_shape(customers: int, tickets: int, events: int) -> Shape:
    if not tickets <= events <= tickets * MAX_EVENTS:
        raise SystemExit(f"--events must be between --tickets and {MAX_EVENTS} times it")
    started = time.perf_counter()
    rng = random.Random(SEED)
    weights: list[float] = []
    for _ in range(customers):
        roll = rng.random()
        if roll < 0.002:
            weights.append(rng.uniform(200, 800))
        elif roll < 0.022:
            weights.append(rng.uniform(20, 80))
        else:
            weights.append(rng.choices((1, 2, 3, 4, 5, rng.randint(6, 10)),
                                       weights=(30, 20, 15, 15, 10, 10))[0])
    counts = apportion(weights, tickets)
    requester = [c for c, n in enumerate(counts, 1) for _ in range(n)]
    rng.shuffle(requester)  # a customer's tickets spread over the years
    base: list[float] = []
    for _ in range(tickets):
        roll = rng.random()
        span = ((1, 2) if roll < 0.15 else (3, 12) if roll < 0.70 else (13, 25) if roll < 0.95
                else (26, 60))
        base.append(rng.randint(*span) - 1)
    per_ticket = [min(MAX_EVENTS, 1 + n) for n in apportion(base, events - tickets)]
    layout: list[tuple[int, int, int, int]] = []
    offset = 0
    for block in range((tickets + BLOCK - 1) // BLOCK):
        part = sorted(per_ticket[block * BLOCK:(block + 1) * BLOCK], reverse=True)
        per_ticket[block * BLOCK:(block + 1) * BLOCK] = part
        at_least = Counter(part)
        count = len(part)
        for seq in range(1, part[0] + 1):
            layout.append((block, seq, count, offset))
            offset += count
            count -= at_least[seq]
    shape = Shape(customers, tickets, offset, requester, per_ticket, layout)
    shape.seconds = round(time.perf_counter() - started, 2)
    return shape


def describe(shape: Shape) -> dict[str, Any]:
    """Tickets per customer and events per ticket, as generated."""
    per_customer = Counter(shape.requester)
    bands = ((0, 0), (1, 1), (2, 5), (6, 10), (11, 50), (51, HEAVY - 1), (HEAVY, 10**9))
    counts = [per_customer.get(c, 0) for c in range(1, shape.customers + 1)]
    customers = {}
    for low, high in bands:
        inside = [n for n in counts if low <= n <= high]
        name = f"{low}+" if high == 10**9 else f"{low}" if low == high else f"{low}-{high}"
        customers[name] = {"customers": len(inside), "tickets": sum(inside)}
    ordered = sorted(counts)
    events = sorted(shape.per_ticket)
    return {
        "tickets_per_customer": {
            "bands": customers,
            "mean": round(shape.tickets / shape.customers, 2),
            "p50": percentile(ordered, 50), "p99": percentile(ordered, 99),
            "max": ordered[-1], "heavy_customers": sum(n >= HEAVY for n in counts),
        },
        "events_per_ticket": {
            "mean": round(shape.events / shape.tickets, 2), "min": events[0],
            "p50": percentile(events, 50), "p90": percentile(events, 90),
            "p99": percentile(events, 99), "max": events[-1],
        },
    }


# ---------------------------------------------------------------- seeding SQL


@dataclass
class Dialect:
    kind: str

    def ts(self, seconds: str, micros: str) -> str:
        """A UTC timestamp from epoch seconds and microseconds: on SQLite the text the app
        writes through UTCDateTime ('2026-12-03 08:04:35.025486'), on PostgreSQL
        timestamptz."""
        if self.kind == "sqlite":
            return f"(datetime({seconds}, 'unixepoch') || '.' || substr(1000000 + {micros}, 2))"
        return f"(to_timestamp({seconds}) + ({micros}) * interval '1 microsecond')"

    def json(self, value: str) -> str:
        return value if self.kind == "sqlite" else f"({value})::json"

    def int(self, value: str) -> str:
        return value if self.kind == "sqlite" else f"({value})::int"


def _created(t: str, tickets: int) -> str:
    return f"({START} + ({t} - 1) * {SPAN} / {tickets} + {_h(t, 0, 3600)})"


def _gap(t: str) -> str:
    return f"(60 + {_h(t, 1, 43200)})"


def customer_sql(d: Dialect) -> str:
    """Rows for customer ids from the source `n(i)`."""
    created = f"{START} - {_h('n.i', 2, 365 * 86400)}"
    return (f"INSERT INTO customer (id, name, created_at) "
            f"SELECT n.i, 'Customer ' || n.i, {d.ts(created, _h('n.i', 3, 1000000))}")


def ticket_sql(d: Dialect, tickets: int) -> str:
    """Rows for the source `p(t, requester_id, k)`: ticket id, requester, events."""
    created = _created("p.t", tickets)
    updated = f"({created} + p.k * {_gap('p.t')} + {_h('p.t', 4, 600)})"
    status = _h("p.t", 5, 100)
    tags = (f"CASE {_h('p.t', 6, 10)} WHEN 0 THEN '[\"billing\"]' WHEN 1 THEN '[\"vip\"]' "
            "WHEN 2 THEN '[\"outage\", \"urgent\"]' ELSE '[]' END")
    subject = "CASE " + " ".join(
        f"WHEN {_h('p.t', 7, len(SUBJECTS))} = {i} THEN '{s}'" for i, s in enumerate(SUBJECTS)
    ) + " END"
    micros_c, micros_u = _h("p.t", 8, 1000000), _h("p.t", 9, 1000000)
    return (
        "INSERT INTO ticket (id, subject, status, priority, channel, requester_id, tags, "
        "updated_at, solved_at, created_at, first_reply_due_at, first_replied_at, sla_due_at, "
        "awaiting_since) SELECT p.t, "
        f"{subject} || ' #' || p.t, {_case(status, TICKET_STATUS)}, "
        f"{_case(_h('p.t', 10, 100), TICKET_PRIORITY)}, "
        f"{_case(_h('p.t', 11, 100), TICKET_CHANNEL)}, p.requester_id, {d.json(tags)}, "
        f"{d.ts(updated, micros_u)}, "
        f"CASE WHEN {status} >= 33 THEN {d.ts(updated, micros_u)} END, "
        f"{d.ts(created, micros_c)}, {d.ts(f'{created} + 14400', micros_c)}, "
        f"CASE WHEN {status} >= 5 THEN {d.ts(f'{created} + 1800', micros_c)} END, "
        f"CASE WHEN {status} < 33 THEN {d.ts(f'{created} + 86400', micros_c)} END, "
        f"CASE WHEN {status} < 20 THEN {d.ts(updated, micros_u)} END"
    )


def event_sql(d: Dialect, tickets: int) -> str:
    """Rows for the source `bc(block, seq, count, offset)` joined with `j` (1..count)."""
    ident, t = "(bc.off + j)", f"(bc.b * {BLOCK} + j)"
    created = f"({_created(t, tickets)} + bc.s * {_gap(t)})"
    kind = _h(ident, 12, 100)
    data = (f"CASE WHEN {kind} < 25 THEN '{{\"seconds\": ' || {_h(ident, 13, 900)} || '}}' "
            f"WHEN {kind} >= 90 THEN '{{\"field\": \"status\", \"to\": \"open\"}}' "
            f"WHEN {kind} >= 30 AND {kind} < 55 THEN '{{\"direction\": \"inbound\"}}' "
            "ELSE '{}' END")
    start, length = d.int(f"1 + {_h(ident, 2, 40)}"), d.int(f"20 + {_h(ident, 3, 181)}")
    body = f"substr('{LOREM}', {start}, {length})"
    return (
        "INSERT INTO ticket_event (id, ticket_id, kind, body, data, created_at) "
        f"SELECT {ident}, {t}, {_case(kind, EVENT_KIND)}, {body}, {d.json(data)}, "
        f"{d.ts(created, _h(ident, 4, 1000000))}"
    )


def event_rows(shape: Shape, rows: list[tuple[int, int, int, int]]) -> Iterator[tuple]:
    """The rows `event_sql` makes, built in Python (for --sqlite-load executemany)."""
    fmt = "%Y-%m-%d %H:%M:%S"
    for block, seq, count, offset in rows:
        for j in range(1, count + 1):
            ident, t = offset + j, block * BLOCK + j
            created = (START + (t - 1) * SPAN // shape.tickets + h(t, 0, 3600)
                       + seq * (60 + h(t, 1, 43200)))
            kind = h(ident, 12, 100)
            if kind < 25:
                data = f'{{"seconds": {h(ident, 13, 900)}}}'
            elif kind >= 90:
                data = '{"field": "status", "to": "open"}'
            elif kind >= 30 and kind < 55:
                data = '{"direction": "inbound"}'
            else:
                data = "{}"
            start = h(ident, 2, 40)
            stamp = time.strftime(fmt, time.gmtime(created))
            yield (ident, t, _pick(kind, EVENT_KIND), LOREM[start:start + 20 + h(ident, 3, 181)],
                   data, f"{stamp}.{h(ident, 4, 1000000):06d}")


def chunks(layout: list[tuple[int, int, int, int]]) -> Iterator[tuple[int, int]]:
    """[start, stop) ranges of the layout holding about CHUNK events each."""
    start, size = 0, 0
    for i, row in enumerate(layout):
        size += row[2]
        if size >= CHUNK:
            yield start, i + 1
            start, size = i + 1, 0
    if start < len(layout):
        yield start, len(layout)


# ---------------------------------------------------------------- databases


class Raw:
    """A plain connection for loading and DDL: sqlite3, or asyncpg driven synchronously."""

    def __init__(self, target: Target) -> None:
        self.kind = target.kind
        self.dialect = Dialect(target.kind)
        url = make_url(target.url)
        if self.kind == "sqlite":
            self.sqlite = sqlite3.connect(url.database or "", isolation_level=None)
        else:
            self.runner = asyncio.Runner()
            dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
            self.pg = self.runner.run(asyncpg.connect(dsn))

    def execute(self, sql: str, *args: Any) -> None:
        if self.kind == "sqlite":
            self.sqlite.execute(sql, args)
        else:
            self.runner.run(self.pg.execute(sql, *args))

    def fetch(self, sql: str, *args: Any) -> list[tuple]:
        if self.kind == "sqlite":
            return self.sqlite.execute(sql, args).fetchall()
        return [tuple(row) for row in self.runner.run(self.pg.fetch(sql, *args))]

    def close(self) -> None:
        if self.kind == "sqlite":
            self.sqlite.close()
        else:
            self.runner.run(self.pg.close())
            self.runner.close()


def secondary_indexes(raw: Raw) -> list[tuple[str, str, str, str]]:
    """(name, table, first column, CREATE statement) of ticket's and ticket_event's indexes
    other than their primary keys, as the migrations made them."""
    if raw.kind == "sqlite":
        rows = raw.fetch("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' "
                         "AND tbl_name IN ('ticket', 'ticket_event') AND sql IS NOT NULL "
                         "ORDER BY name")
        return [(name, table, raw.fetch(f"PRAGMA index_info({name})")[0][2], sql)
                for name, table, sql in rows]
    return raw.fetch(
        "SELECT i.relname, t.relname, a.attname, pg_get_indexdef(x.indexrelid) "
        "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "JOIN pg_class t ON t.oid = x.indrelid "
        "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0] "
        "WHERE t.relname IN ('ticket', 'ticket_event') AND NOT x.indisprimary "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) "
        "ORDER BY i.relname"
    )


def measured(index: tuple[str, str, str, str]) -> bool:
    """The indexes the baseline goes without: those Last Five and the timeline read."""
    _name, table, first, _sql = index
    return (table, first) in (("ticket", "requester_id"), ("ticket_event", "ticket_id"))


def analyze(raw: Raw) -> float:
    started = time.perf_counter()
    raw.execute("ANALYZE" if raw.kind == "sqlite" else "VACUUM ANALYZE")
    return round(time.perf_counter() - started, 2)


def make_indexes(raw: Raw, indexes: list[tuple[str, str, str, str]]) -> dict[str, float]:
    took = {}
    for name, _table, _first, sql in indexes:
        started = time.perf_counter()
        raw.execute(sql)
        took[name] = round(time.perf_counter() - started, 2)
    return took


def seed(target: Target, shape: Shape, *, sqlite_load: str) -> tuple[dict[str, Any], list]:
    """Load the data with the secondary indexes dropped, make the unmeasured ones again and
    take statistics. Returns the figures and the measured indexes (not yet made)."""
    raw = Raw(target)
    d = raw.dialect
    out: dict[str, Any] = {"seconds": {}}
    took = out["seconds"]
    try:
        indexes = secondary_indexes(raw)
        for name, *_rest in indexes:
            raw.execute(f"DROP INDEX {name}")
        if raw.kind == "sqlite":
            for pragma in ("journal_mode=WAL", "synchronous=OFF", "cache_size=-1048576",
                           "temp_store=MEMORY", "threads=2"):
                raw.execute(f"PRAGMA {pragma}")
        else:
            # FK checks skipped while loading (ids are 1..N by construction; checked below).
            for setting in ("synchronous_commit = off", "session_replication_role = replica",
                            "maintenance_work_mem = '1GB'"):
                raw.execute(f"SET {setting}")

        def timed(name: str, step: Callable[[], None]) -> None:
            print(f"[{raw.kind}] seeding {name}", file=sys.stderr)
            started = time.perf_counter()
            step()
            took[name] = round(time.perf_counter() - started, 2)
            print(f"[{raw.kind}]   {name}: {took[name]} s", file=sys.stderr)

        if raw.kind == "sqlite":
            db = raw.sqlite

            def customers() -> None:
                db.execute("BEGIN")
                db.execute(f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                           f"WHERE i < {shape.customers}) " + customer_sql(d) + " FROM n")
                db.execute("COMMIT")

            def tickets() -> None:
                db.execute("CREATE TEMP TABLE p (t INTEGER PRIMARY KEY, requester_id, k)")
                db.execute("BEGIN")
                db.executemany("INSERT INTO p VALUES (?, ?, ?)", zip(
                    range(1, shape.tickets + 1), shape.requester, shape.per_ticket,
                    strict=True))
                db.execute(ticket_sql(d, shape.tickets) + " FROM p ORDER BY p.t")
                db.execute("COMMIT")
                db.execute("DROP TABLE p")

            def events() -> None:
                db.execute("CREATE TEMP TABLE bc (b, s, cnt, off)")
                db.execute("CREATE TEMP TABLE n (i INTEGER PRIMARY KEY)")
                db.execute(f"WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r "
                           f"WHERE i < {BLOCK}) INSERT INTO n SELECT i FROM r")
                db.executemany("INSERT INTO bc VALUES (?, ?, ?, ?)", shape.layout)
                insert = (event_sql(d, shape.tickets) + " FROM bc CROSS JOIN"
                          " (SELECT i AS j FROM n) WHERE j <= bc.cnt"
                          " AND bc.rowid > ? AND bc.rowid <= ? ORDER BY bc.rowid, j")
                many = ("INSERT INTO ticket_event (id, ticket_id, kind, body, data, created_at)"
                        " VALUES (?, ?, ?, ?, ?, ?)")
                db.execute("BEGIN")
                for start, stop in chunks(shape.layout):
                    if sqlite_load == "executemany":
                        db.executemany(many, event_rows(shape, shape.layout[start:stop]))
                    else:
                        db.execute(insert, (start, stop))
                    print(f"[sqlite]   events up to {shape.layout[stop - 1][3]:,}",
                          file=sys.stderr)
                db.execute("COMMIT")
                db.execute("DROP TABLE bc")
                db.execute("DROP TABLE n")
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        else:

            def customers() -> None:
                raw.execute(customer_sql(d) + " FROM generate_series(1, $1::bigint) AS n(i)",
                            shape.customers)

            def tickets() -> None:
                raw.execute(ticket_sql(d, shape.tickets) + " FROM unnest($1::int[], $2::int[])"
                            " WITH ORDINALITY AS p(requester_id, k, t)",
                            shape.requester, shape.per_ticket)

            def events() -> None:
                insert = (event_sql(d, shape.tickets)
                          + " FROM unnest($1::bigint[], $2::int[], $3::int[], $4::bigint[])"
                          " AS bc(b, s, cnt, off), generate_series(1, bc.cnt) AS j")
                for start, stop in chunks(shape.layout):
                    rows = shape.layout[start:stop]
                    raw.execute(insert, *(list(column) for column in zip(*rows, strict=True)))
                    print(f"[postgres]   events up to {rows[-1][3]:,}", file=sys.stderr)

        timed("customer", customers)
        timed("ticket", tickets)
        timed("ticket_event", events)
        if raw.kind == "postgres":
            raw.execute("RESET session_replication_role")
            for table in ("customer", "ticket", "ticket_event"):
                raw.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT max(id) FROM {table}))")
        started = time.perf_counter()
        made = make_indexes(raw, [i for i in indexes if not measured(i)])
        took["other_indexes"] = round(time.perf_counter() - started, 2)
        took["analyze"] = analyze(raw)
        out["other_indexes"] = made
        # The foreign keys hold: every reference lies within the other table's ids.
        (count_t, low_r, high_r), = raw.fetch("SELECT count(*), min(requester_id), "
                                              "max(requester_id) FROM ticket")
        (count_e, low_t, high_t), = raw.fetch("SELECT count(*), min(ticket_id), max(ticket_id) "
                                              "FROM ticket_event")
        assert count_t == shape.tickets and count_e == shape.events, (count_t, count_e)
        assert low_r >= 1 and high_r <= shape.customers, (low_r, high_r)
        assert low_t >= 1 and high_t <= count_t, (low_t, high_t)
        out["kinds"] = dict(raw.fetch("SELECT kind, count(*) FROM ticket_event GROUP BY kind "
                                      "ORDER BY count(*) DESC"))
        if raw.kind == "sqlite":
            out["file_mb"] = round(Path(make_url(target.url).database or "").stat().st_size
                                   / 2**20)
        else:
            out["table_mb"] = {
                table: round(raw.fetch(f"SELECT pg_total_relation_size('{table}')")[0][0]
                             / 2**20) for table in ("customer", "ticket", "ticket_event")}
    finally:
        raw.close()
    took["load_total"] = round(sum(took[k] for k in ("customer", "ticket", "ticket_event")), 2)
    return out, [i for i in indexes if measured(i)]


# ---------------------------------------------------------------- the measured calls


async def last_five(session: AsyncSession, customer_id: int, besides: int) -> list[int]:
    """The softphone's "last five tickets" of the caller, besides the one in front."""
    found = await service.recent_for(session, customer_id=customer_id, besides=besides)
    return [ticket.id for ticket in found]


async def timeline(session: AsyncSession, customer_id: int, before_id: int | None) -> list[int]:
    """A page of the customer's history across their tickets, newest first."""
    found = await service.customer_timeline(session, customer_id=customer_id,
                                            before_id=before_id, limit=PAGE)
    return [entry.id for entry in found]


async def floor_select_1(session: AsyncSession) -> Any:
    """What any one statement costs on this stack (session, driver, round trip)."""
    return await session.scalar(text("SELECT 1"))


@dataclass
class Item:
    customer_id: int
    besides: int  # one of their tickets: the one in front of the agent
    heavy: bool


def pick_items(shape: Shape, n: int) -> list[Item]:
    """n customers: every HEAVY_SHARE-th a heavy one, the others from the rest (uniform)."""
    rng = random.Random(SEED + 1)
    per_customer = Counter(shape.requester)
    heavy = sorted(c for c, k in per_customer.items() if k >= HEAVY)
    typical = sorted(c for c, k in per_customer.items() if k < HEAVY)
    chosen = [(rng.choice(heavy), True) if heavy and i % HEAVY_SHARE == 0
              else (rng.choice(typical), False) for i in range(n)]
    wanted = {c for c, _ in chosen}
    tickets_of: dict[int, list[int]] = {}
    for ticket_id, customer_id in enumerate(shape.requester, 1):
        if customer_id in wanted:
            tickets_of.setdefault(customer_id, []).append(ticket_id)
    return [Item(c, rng.choice(tickets_of[c]), is_heavy) for c, is_heavy in chosen]


# ---------------------------------------------------------------- timing


@dataclass
class Sample:
    ms: list[float] = field(default_factory=list)
    answers: list[Any] = field(default_factory=list)
    statements: list[int] = field(default_factory=list)
    sent: list[tuple[str, Any]] = field(default_factory=list)  # each call's last statement


async def measure(sessionmaker: async_sessionmaker[AsyncSession], engine: AsyncEngine,
                  call: Callable[..., Awaitable[Any]], items: list[tuple]) -> Sample:
    """Each call alone in a fresh session whose transaction has begun; rolled back after."""
    counter = [0]
    last: list[tuple[str, Any]] = [("", None)]

    def count(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        counter[0] += 1
        last[0] = (statement, parameters)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    sample = Sample()
    try:
        for item in items:
            async with sessionmaker() as session:
                await session.execute(text("SELECT 1"))  # BEGIN, connection checked out
                counter[0] = 0
                started = time.perf_counter()
                answer = await call(session, *item)
                elapsed = time.perf_counter() - started
                sample.statements.append(counter[0])
                sample.sent.append(last[0])
                await session.rollback()
            sample.ms.append(elapsed * 1000)
            sample.answers.append(answer)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    return sample


def stats(values: list[float]) -> dict[str, Any] | None:
    if not values:
        return None
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 50), 3),  # type: ignore[arg-type]
        "p95_ms": round(percentile(values, 95), 3),  # type: ignore[arg-type]
        "p99_ms": round(percentile(values, 99), 3),  # type: ignore[arg-type]
        "max_ms": round(max(values), 3),
    }


async def explain(engine: AsyncEngine, sent: tuple[str, Any], *, run: bool) -> list[str]:
    """The plan of a statement as a measured call sent it (same parameters); on PostgreSQL
    with ANALYZE and BUFFERS when `run`, and also the generic plan: asyncpg prepares each
    statement once per connection, and after five runs PostgreSQL may keep a generic plan
    (planned for any parameter value) for all later ones."""
    statement, parameters = sent
    head = [" ".join(statement.split()), f"  parameters {parameters}"]
    if engine.dialect.name == "sqlite":
        async with engine.connect() as conn:
            rows = (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement,
                                               parameters)).all()
        return head + [f"{row[0]}|{row[1]}| {row[3]}" for row in rows]
    prefix = "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " if run else "EXPLAIN (COSTS OFF) "
    values = ", ".join(str(int(value)) for value in parameters)  # all integers here
    async with engine.connect() as conn:
        custom = (await conn.exec_driver_sql(prefix + statement, parameters)).all()
        await conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        await conn.exec_driver_sql(f"PREPARE bench_plan AS {statement}")
        generic = (await conn.exec_driver_sql(f"{prefix}EXECUTE bench_plan({values})")).all()
        await conn.exec_driver_sql("DEALLOCATE bench_plan")
        await conn.exec_driver_sql("RESET plan_cache_mode")
    return (head + ["  custom plan (for these values):"] + [row[0] for row in custom]
            + ["  generic plan (for any values):"] + [row[0] for row in generic])


def by_group(items: list[Item], sample: Sample) -> dict[str, Any]:
    return {
        "all": stats(sample.ms),
        "typical": stats([ms for it, ms in zip(items, sample.ms, strict=True) if not it.heavy]),
        "heavy": stats([ms for it, ms in zip(items, sample.ms, strict=True) if it.heavy]),
        "rows_mean": round(sum(map(len, sample.answers)) / max(1, len(sample.answers)), 1),
        "statements_max": max(sample.statements, default=0),
    }


async def bench(url: str, items: list[Item], *, baseline: bool,
                run_plans: bool) -> dict[str, Any]:
    """One phase: the baseline (indexes dropped: `items` are the first --scans customers)
    or the indexed path (warm-up first, and the floor)."""
    engine = create_engine(url)
    sessionmaker = create_sessionmaker(engine)
    out: dict[str, Any] = {}
    phase = "baseline" if baseline else "indexed"
    try:
        five = [(it.customer_id, it.besides) for it in items]
        first = [(it.customer_id, None) for it in items]
        if baseline:
            # One call each first (compiling, the connection's first reads): a full scan.
            await measure(sessionmaker, engine, last_five, five[:1])
            await measure(sessionmaker, engine, timeline, first[:1])
        else:
            # Warm-up: statement caches, the database's page cache, the ORM's compiled paths.
            await measure(sessionmaker, engine, floor_select_1, [()] * WARMUP)
            await measure(sessionmaker, engine, last_five, five[:WARMUP])
            warm = await measure(sessionmaker, engine, timeline, first[:WARMUP])
            await measure(sessionmaker, engine, timeline, [
                (c, page[-1]) for (c, _), page in zip(first, warm.answers, strict=False)
                if len(page) == PAGE])
            gc.collect()
            print(f"  [{phase}] floor: {len(items)} calls", file=sys.stderr)
            floor = await measure(sessionmaker, engine, floor_select_1, [()] * len(items))
            out["floor_select_1"] = stats(floor.ms)
        samples: dict[str, Sample] = {}
        gc.collect()
        print(f"  [{phase}] last five: {len(items)} calls", file=sys.stderr)
        samples["last_five"] = await measure(sessionmaker, engine, last_five, five)
        out["last_five"] = by_group(items, samples["last_five"])
        gc.collect()
        print(f"  [{phase}] timeline page 1: {len(items)} calls", file=sys.stderr)
        samples["timeline_page1"] = await measure(sessionmaker, engine, timeline, first)
        out["timeline_page1"] = by_group(items, samples["timeline_page1"])
        # The second page, for the customers whose first page was full.
        full = [(it, page) for it, page in zip(items, samples["timeline_page1"].answers,
                                               strict=True) if len(page) == PAGE]
        second = [it for it, _ in full]
        gc.collect()
        print(f"  [{phase}] timeline page 2: {len(second)} calls", file=sys.stderr)
        samples["timeline_page2"] = await measure(
            sessionmaker, engine, timeline, [(it.customer_id, page[-1]) for it, page in full])
        out["timeline_page2"] = by_group(second, samples["timeline_page2"])
        out["answers"] = {
            "last_five": [(it.customer_id, it.besides, a) for it, a in
                          zip(items, samples["last_five"].answers, strict=True)],
            "timeline_page1": [(it.customer_id, a) for it, a in
                               zip(items, samples["timeline_page1"].answers, strict=True)],
            "timeline_page2": [(it.customer_id, page[-1], a) for (it, page), a in
                               zip(full, samples["timeline_page2"].answers, strict=True)],
        }
        # The plans of the statements as sent: a typical and a heavy customer's, per query.
        plans: dict[str, tuple[str, Any]] = {}
        for name in ("last_five", "timeline_page1", "timeline_page2"):
            whose = items if name != "timeline_page2" else second
            for group in ("typical", "heavy"):
                at = next((i for i, it in enumerate(whose) if it.heavy == (group == "heavy")),
                          None)
                if at is not None:
                    plans[f"{name}, {group} customer"] = samples[name].sent[at]
        out["plans"] = {name: await explain(engine, sent, run=run_plans)
                        for name, sent in plans.items()}
    finally:
        await engine.dispose()
    return out


def compare(base: dict[str, Any], indexed: dict[str, Any]) -> dict[str, Any]:
    """The baseline's answers are the reference: the indexed path must give the same."""
    agree = {}
    for name in ("last_five", "timeline_page1", "timeline_page2"):
        reference = {tuple(row[:-1]): row[-1] for row in base["answers"][name]}
        found = {tuple(row[:-1]): row[-1] for row in indexed["answers"][name]}
        agree[name] = {"same": sum(found.get(key) == answer for key, answer in reference.items()),
                       "of": len(reference)}
    return agree


def run_target(target: Target, shape: Shape, items: list[Item], *, scans: int,
               sqlite_load: str, run_plans: bool) -> dict[str, Any]:
    print(f"[{target.kind}] seeding", file=sys.stderr)
    seeded, indexes = seed(target, shape, sqlite_load=sqlite_load)
    names = [name for name, *_ in indexes]
    print(f"[{target.kind}] baseline, without {', '.join(names)}", file=sys.stderr)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    base = asyncio.run(bench(target.url, items[:scans], baseline=True, run_plans=False))
    baseline_seconds = round(time.perf_counter() - started, 1)
    print(f"[{target.kind}] making the indexes", file=sys.stderr)
    raw = Raw(target)
    try:
        if raw.kind == "sqlite":
            for pragma in ("cache_size=-1048576", "temp_store=MEMORY", "threads=2"):
                raw.execute(f"PRAGMA {pragma}")
        else:
            raw.execute("SET maintenance_work_mem = '1GB'")
        seeded["measured_indexes"] = make_indexes(raw, indexes)
        seeded["seconds"]["analyze_after_indexes"] = analyze(raw)
        seeded["index_sql"] = [sql for *_rest, sql in indexes]
    finally:
        raw.close()
    print(f"[{target.kind}] measuring the indexed path", file=sys.stderr)
    started = time.perf_counter()
    indexed = asyncio.run(bench(target.url, items, baseline=False, run_plans=run_plans))
    indexed_seconds = round(time.perf_counter() - started, 1)
    load = {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)}
    res: dict[str, Any] = {"seed": seeded, "load_1min": load,
                           "phase_seconds": {"baseline": baseline_seconds,
                                             "indexed": indexed_seconds},
                           "agree": compare(base, indexed)}
    base.pop("answers")
    indexed.pop("answers")
    # Always taken (plain EXPLAIN is cheap) and kept in the JSON; printed with --explain.
    res["plans"] = {"baseline": base.pop("plans"), "indexed": indexed.pop("plans")}
    res["baseline"] = base
    res["indexed"] = indexed
    res["speedup_p50"] = {
        name: round(base[name]["all"]["p50_ms"] / indexed[name]["all"]["p50_ms"], 1)
        for name in ("last_five", "timeline_page1", "timeline_page2")
        if base[name]["all"] and indexed[name]["all"]
    }
    p99 = indexed["last_five"]["all"]["p99_ms"]
    res["goals"] = {f"last_five_p99<{GOAL_P99_MS:g}ms": p99 < GOAL_P99_MS}
    return res


# ---------------------------------------------------------------- output


def _row(label: str, s: dict[str, Any] | None) -> str:
    if s is None:
        return f"  {label:<36} {0:>5}"
    return (f"  {label:<36} {s['n']:>5} {s['p50_ms']:>8.3f}ms {s['p95_ms']:>8.3f}ms "
            f"{s['p99_ms']:>8.3f}ms {s['max_ms']:>8.2f}ms")


def print_table(results: dict[str, Any], setup: dict[str, Any], shape: dict[str, Any], *,
                show_plans: bool) -> None:
    print(f"\nTicket workspace: {setup['tickets']:,} tickets, {setup['events']:,} events, "
          f"{setup['customers']:,} customers; indexed path vs the same queries without "
          "their indexes, same run")
    tpc, ept = shape["tickets_per_customer"], shape["events_per_ticket"]
    print("  tickets per customer: " + ", ".join(
        f"{band}: {v['customers']:,} customers ({v['tickets']:,} tickets)"
        for band, v in tpc["bands"].items()) + f"; max {tpc['max']}")
    print(f"  events per ticket: mean {ept['mean']}, p50 {ept['p50']}, p90 {ept['p90']}, "
          f"p99 {ept['p99']}, max {ept['max']}")
    for kind, res in results.items():
        seeded = res["seed"]
        took = seeded["seconds"]
        print(f"\n[{kind}] seeded: customer {took['customer']} s, ticket {took['ticket']} s, "
              f"ticket_event {took['ticket_event']} s (load {took['load_total']} s); "
              f"other indexes {took['other_indexes']} s, statistics {took['analyze']} s; "
              f"measured indexes " + ", ".join(
                  f"{n} {s} s" for n, s in seeded["measured_indexes"].items())
              + f"; load average {res['load_1min']['before']} -> {res['load_1min']['after']}")
        size = (f"file {seeded['file_mb']} MB" if "file_mb" in seeded else
                ", ".join(f"{t} {mb} MB" for t, mb in seeded["table_mb"].items()))
        print(f"  {size}; event kinds: " + ", ".join(
            f"{k} {n:,}" for k, n in seeded["kinds"].items()))
        head = f"  {'measure':<36} {'n':>5} {'p50':>10} {'p95':>10} {'p99':>10} {'max':>10}"
        print("\n" + head + "\n  " + "-" * (len(head) - 2))
        indexed, base = res["indexed"], res["baseline"]
        print(_row("floor: SELECT 1", indexed["floor_select_1"]))
        for name, label in (("last_five", "Last Five (recent_for)"),
                            ("timeline_page1", "timeline, page 1"),
                            ("timeline_page2", "timeline, page 2")):
            print(_row(label, indexed[name]["all"]))
            print(_row("  typical customers", indexed[name]["typical"]))
            print(_row("  heavy customers", indexed[name]["heavy"]))
            print(_row("  baseline: no index (all)", base[name]["all"]))
        print("\n  speed-up at p50: " + ", ".join(
            f"{name} {x}x" for name, x in res["speedup_p50"].items()))
        print("  same answers as the baseline: " + ", ".join(
            f"{name} {a['same']}/{a['of']}" for name, a in res["agree"].items()))
        print(f"  rows per call (mean): last five {indexed['last_five']['rows_mean']}, "
              f"page 1 {indexed['timeline_page1']['rows_mean']}, "
              f"page 2 {indexed['timeline_page2']['rows_mean']}")
        for phase, plans in res["plans"].items() if show_plans else ():
            for name, plan in plans.items():
                print(f"  plan ({phase}), {name}:")
                for line in plan:
                    print(f"    {line}")
    print("\nGoals:")
    for kind, res in results.items():
        p99 = res["indexed"]["last_five"]["all"]["p99_ms"]
        for goal, ok in res["goals"].items():
            print(f"  [{kind}] {goal}: {'met' if ok else 'MISSED'} ({p99} ms)")
    print()


def main() -> None:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--database-url", help="an empty database to use instead (kept)")
    parser.add_argument("--tickets", type=int, help=f"default {TICKETS:,}")
    parser.add_argument("--events", type=int, help=f"default {EVENTS:,}")
    parser.add_argument("--customers", type=int, help=f"default {CUSTOMERS:,}")
    parser.add_argument("--iterations", type=int, help="per indexed measure (default 2000)")
    parser.add_argument("--scans", type=int, help="per baseline measure (default 20)")
    parser.add_argument("--quick", action="store_true",
                        help="20,000 tickets, 200,000 events, 200 and 5 calls: a smoke test")
    parser.add_argument("--explain", action="store_true",
                        help="print the query plans (PostgreSQL: of the indexed path with "
                             "ANALYZE, BUFFERS)")
    parser.add_argument("--sqlite-load", choices=["sql", "executemany"], default="sql",
                        help="events by INSERT ... SELECT, or rows built in Python")
    args = parser.parse_args()
    defaults = QUICK if args.quick else {"customers": CUSTOMERS, "tickets": TICKETS,
                                         "events": EVENTS, "iterations": 2000, "scans": 20}
    setup = {name: getattr(args, name) or defaults[name] for name in defaults}
    if args.database_url:
        kinds = ["url"]
    else:
        kinds = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    with contextlib.suppress(ImportError):
        import uvloop  # the app's servers run on uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    print("shaping the data", file=sys.stderr)
    shape = make_shape(setup["customers"], setup["tickets"], setup["events"])
    items = pick_items(shape, setup["iterations"])
    scans = min(setup["scans"], len(items))
    described = describe(shape)
    results: dict[str, Any] = {}
    workdir = Path(tempfile.mkdtemp(prefix="callcenter-tickets-"))
    try:
        for kind in kinds:
            target = fresh_target(
                kind, workdir, args.database_url, name="tickets", pg_db=PG_TICKETS_DB
            )
            try:
                results[target.kind] = run_target(target, shape, items, scans=scans,
                                                  sqlite_load=args.sqlite_load,
                                                  run_plans=args.explain)
            finally:
                target.drop()
                for path in workdir.iterdir():
                    path.unlink()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print_table(results, setup, described, show_plans=args.explain)
    total = round(time.perf_counter() - started, 1)
    print(f"total run time {total} s (shaping the data {shape.seconds} s)\n")
    summary = {
        "benchmark": "tickets",
        "quick": args.quick,
        **setup,
        "sqlite_load": args.sqlite_load,
        "heavy_at_least": HEAVY,
        "shape": described,
        "goal": {"last_five_p99_ms": GOAL_P99_MS},
        "results": results,
        "goals": {kind: res["goals"] for kind, res in results.items()},
        "all_goals_met": all(all(res["goals"].values()) for res in results.values()),
        "total_seconds": total,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

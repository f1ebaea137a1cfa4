"""Benchmark: mail through the SMTP listener to stored tickets, and the parse of each
message, against Python's bare `email` parsing of the same messages and a bare aiosmtpd
server taking the same mail, measured in the same run.

    .venv/bin/python -m benchmarks.email [--database sqlite|postgres|both]
                                         [--messages N] [--connections N] [--senders N]

A deterministic corpus of --messages messages from --senders customers: plain text with a
signature, multipart/alternative, HTML only, a quoted reply, one with a small attachment,
quoted-printable and base64 bodies, UTF-8 and Latin-1 (in equal shares).

1. Parse, per message, one after another (microseconds): `email.message_from_bytes(raw,
   policy=policy.default)` and its `get_body().get_content()` (the bare library), then
   `callcenter.channels.email.parsing.parse` (which also reads every header leniently,
   folds quotes, sanitises HTML and collects attachments). Ratio: ours / bare.
2. Through SMTP, per database (a fresh migrated database each): the app's listener
   (`create_app` with the listener on a free port; each message stored raw, then read onto
   a ticket, before its 250), fed by --connections aiosmtplib clients at once, each
   sending its share of the corpus over one connection. The baseline in the same run: a
   bare aiosmtpd server on the same loop whose handler only answers 250. Messages per
   second, and the p50/p99 of a message's DATA-to-250 time; afterwards every message must
   be landed on a ticket.

Prints a table, then one JSON object as the last line of stdout. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.utils
import json
import random
import sys
import tempfile
import time
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
from aiosmtpd.smtp import SMTP
from sqlalchemy import func, select

from benchmarks.common import HOST, fresh_target, percentile
from callcenter.app import create_app
from callcenter.channels.email import parsing
from callcenter.channels.email.models import Mail, MailStatus
from callcenter.config import Settings
from callcenter.db import create_engine, create_sessionmaker

SUPPORT = "support@bench.test"
KINDS = ("plain", "alternative", "html", "quoted", "attachment", "latin1")


def corpus(count: int, senders: int) -> list[tuple[str, bytes]]:
    """(sender, raw message) pairs, the same for the same arguments."""
    rng = random.Random(20261204)
    out = []
    for index in range(count):
        sender = f"customer{index % senders}@shop{index % 37}.test"
        kind = KINDS[index % len(KINDS)]
        message = EmailMessage()
        message["From"] = email.utils.formataddr((f"Customer {index % senders}", sender))
        message["To"] = SUPPORT
        message["Subject"] = f"Order {1000 + index} {rng.choice(['late', 'broken', 'refund'])}"
        message["Message-ID"] = f"<bench-{index}@shop.test>"
        message["Date"] = email.utils.formatdate(1_764_800_000 + index, usegmt=True)
        words = " ".join(rng.choice(["parcel", "order", "refund", "please", "help", "today",
                                     "courier", "address", "invoice", "thanks"])
                         for _ in range(rng.randint(20, 120)))
        text = f"Hello,\n\n{words}.\n\n-- \nCustomer {index % senders}\n"
        if kind == "plain":
            message.set_content(text, cte="quoted-printable")
        elif kind == "alternative":
            message.set_content(text)
            message.add_alternative(f"<html><body><p>{words}</p><p>Thanks</p></body></html>",
                                    subtype="html")
        elif kind == "html":
            message.set_content(f"<html><body><div>{words}</div><ul><li>one</li></ul>"
                                "<script>alert(1)</script></body></html>", subtype="html",
                                cte="base64")
        elif kind == "quoted":
            message.set_content(f"{words}\n\nOn Mon, 1 Dec 2026, Support <{SUPPORT}> wrote:\n"
                                + "".join(f"> line {n} of our reply\n" for n in range(15)))
        elif kind == "attachment":
            message.set_content(text)
            message.add_attachment(bytes(rng.getrandbits(8) for _ in range(3000)),
                                   maintype="application", subtype="pdf",
                                   filename=f"receipt-{index}.pdf")
        else:
            message.set_content(text.replace("Hello", "Grüße, café"), charset="latin-1")
        out.append((sender, message.as_bytes(policy=message.policy.clone(linesep="\r\n"))))
    return out


def bare_parse(raw: bytes) -> str:
    message = email.message_from_bytes(raw, policy=policy.default)
    body = message.get_body(("plain", "html"))  # type: ignore[attr-defined]
    return body.get_content() if body is not None else ""


def time_parses(messages: list[tuple[str, bytes]]) -> dict[str, Any]:
    def run(parse: Any) -> list[float]:
        timings = []
        for _sender, raw in messages:
            started = time.perf_counter()
            parse(raw)
            timings.append((time.perf_counter() - started) * 1e6)
        return timings

    for _ in range(2):  # warm-up, both
        run(bare_parse)
        run(lambda raw: parsing.parse(raw, attachment_limit=10_000_000))
    bare = run(bare_parse)
    ours = run(lambda raw: parsing.parse(raw, attachment_limit=10_000_000))
    figures = {
        "bare_p50_us": percentile(bare, 50), "bare_p99_us": percentile(bare, 99),
        "ours_p50_us": percentile(ours, 50), "ours_p99_us": percentile(ours, 99),
    }
    figures["ratio_p50"] = round(figures["ours_p50_us"] / figures["bare_p50_us"], 2)
    return {key: round(value, 1) if isinstance(value, float) else value
            for key, value in figures.items()}


async def feed(port: int, messages: list[tuple[str, bytes]], connections: int) -> dict[str, Any]:
    """Send every message over `connections` connections at once; time each DATA."""
    shares = [messages[i::connections] for i in range(connections)]
    timings: list[float] = []

    async def one(share: list[tuple[str, bytes]]) -> None:
        client = aiosmtplib.SMTP(hostname=HOST, port=port, start_tls=False, timeout=60)
        await client.connect()
        try:
            for sender, raw in share:
                started = time.perf_counter()
                await client.sendmail(sender, [SUPPORT], raw)
                timings.append((time.perf_counter() - started) * 1000)
        finally:
            await client.quit()

    started = time.perf_counter()
    await asyncio.gather(*(one(share) for share in shares))
    seconds = time.perf_counter() - started
    return {
        "messages_per_s": round(len(messages) / seconds, 1),
        "p50_ms": round(percentile(timings, 50) or 0, 2),
        "p99_ms": round(percentile(timings, 99) or 0, 2),
    }


class _Bare:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


async def bare_server(messages: list[tuple[str, bytes]], connections: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(_Bare(), hostname="bare"), HOST, 0)
    try:
        return await feed(server.sockets[0].getsockname()[1], messages, connections)
    finally:
        server.close()
        await server.wait_closed()


async def through_app(
    url: str, workdir: Path, messages: list[tuple[str, bytes]], connections: int
) -> dict[str, Any]:
    settings = Settings(
        data_dir=workdir / "data", database_url=url, secret_key="b" * 40,
        support_address=SUPPORT, smtp_listen_host=HOST, smtp_listen_port=0,
        log_level="WARNING",
    )
    app = create_app(settings)
    async with app.test_app():
        server = app.extensions["callcenter"].smtp
        figures = await feed(server.sockets[0].getsockname()[1], messages, connections)
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            landed = await session.scalar(
                select(func.count()).select_from(Mail).where(Mail.status == MailStatus.landed)
            )
    finally:
        await engine.dispose()
    figures["landed"] = landed
    if landed != len(messages):
        raise SystemExit(f"only {landed} of {len(messages)} messages were landed")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--senders", type=int, default=300)
    args = parser.parse_args()

    messages = corpus(args.messages, args.senders)
    print(f"corpus: {len(messages)} messages, {sum(len(r) for _s, r in messages) // 1000} kB",
          file=sys.stderr)
    result: dict[str, Any] = {"messages": len(messages), "connections": args.connections}
    result["parse"] = time_parses(messages)
    p = result["parse"]
    print(f"\nparse per message  bare email: p50 {p['bare_p50_us']} us, p99 {p['bare_p99_us']} us"
          f"   ours: p50 {p['ours_p50_us']} us, p99 {p['ours_p99_us']} us"
          f"   ({p['ratio_p50']}x)")
    kinds = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        for kind in kinds:
            bare = asyncio.run(bare_server(messages, args.connections))
            target = fresh_target(kind, workdir, None, name="email", pg_db="callcenter_bench_email")
            try:
                ours = asyncio.run(through_app(target.url, workdir, messages, args.connections))
            finally:
                target.drop()
            ratio = round(ours["messages_per_s"] / bare["messages_per_s"], 3)
            result[kind] = {"bare": bare, "listener": ours, "ratio": ratio}
            print(f"{kind:<9} bare aiosmtpd: {bare['messages_per_s']} msg/s "
                  f"(p99 {bare['p99_ms']} ms)   listener to tickets: {ours['messages_per_s']} "
                  f"msg/s (p50 {ours['p50_ms']} ms, p99 {ours['p99_ms']} ms, "
                  f"{ours['landed']} landed)   {ratio}x")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

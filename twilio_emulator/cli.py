"""``twilio-emulator``: run the emulator as a server (for demos and a separate app)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from pathlib import Path
from typing import Any

import yaml

from .app import Emulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="twilio-emulator", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8081)
    p.add_argument("--account-sid", default="AC" + "0" * 32)
    p.add_argument("--auth-token", default="emulator-token")
    p.add_argument("--clock", choices=("wall", "virtual"), default="wall")
    p.add_argument("--config", help="YAML file: numbers (and callee scripts) to provision")
    return p.parse_args(argv)


def apply_config(emu: Emulator, config: dict[str, Any]) -> None:
    """numbers: [{number, voice_url, voice_method, voice_fallback_url, status_callback,
    sms_url}], callees: {"+1...": [script steps]}."""
    engine = emu.engine
    for entry in config.get("numbers") or []:
        form = {"VoiceUrl": entry.get("voice_url"), "VoiceMethod": entry.get("voice_method"),
                "VoiceFallbackUrl": entry.get("voice_fallback_url"),
                "StatusCallback": entry.get("status_callback"), "SmsUrl": entry.get("sms_url")}
        engine.numbers.create(str(entry["number"]),
                              {k: str(v) for k, v in form.items() if v is not None})
    for number, script in (config.get("callees") or {}).items():
        engine.callees[str(number)] = list(script or [])


async def serve(args: argparse.Namespace, config: dict[str, Any]) -> None:
    emu = Emulator(args.account_sid, args.auth_token, clock=args.clock)
    if config:
        apply_config(emu, config)
    url = await emu.start(args.host, args.port)
    print(f"twilio-emulator listening on {url} (account {args.account_sid})", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await emu.stop()


def main(argv: list[str] | None = None) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        args = parse_args(argv)
        config = yaml.safe_load(Path(args.config).read_text(encoding="utf-8")) if args.config \
            else {}
        asyncio.run(serve(args, config or {}))

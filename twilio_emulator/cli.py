"""``twilio-emulator``: run the emulator as a server (for demos and a separate app).

Stops cleanly on SIGTERM or SIGINT (exit status 0). A bad config file, account SID or
address gives a one-line ``twilio-emulator: error: ...`` on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

import yaml

from .app import Emulator

NUMBER_KEYS = {
    "number": None, "friendly_name": "FriendlyName", "voice_url": "VoiceUrl",
    "voice_method": "VoiceMethod", "voice_fallback_url": "VoiceFallbackUrl",
    "voice_fallback_method": "VoiceFallbackMethod", "status_callback": "StatusCallback",
    "status_callback_method": "StatusCallbackMethod", "sms_url": "SmsUrl",
    "sms_method": "SmsMethod", "sms_fallback_url": "SmsFallbackUrl",
    "sms_fallback_method": "SmsFallbackMethod",
}


class ConfigError(ValueError):
    """The config file is unreadable or not of the documented shape."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="twilio-emulator", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8081)
    p.add_argument("--account-sid", default="AC" + "0" * 32)
    p.add_argument("--auth-token", default="emulator-token")
    p.add_argument("--clock", choices=("wall", "virtual"), default="wall")
    p.add_argument("--config", help="YAML file: numbers (and callee scripts) to provision")
    return p.parse_args(argv)


def load_config(path: str) -> dict[str, Any]:
    """Read and check the YAML config; raises ConfigError with a one-line reason."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"config {path} is not valid YAML{where}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config {path}: top level must be a mapping")
    unknown = set(data) - {"numbers", "callees"}
    if unknown:
        raise ConfigError(f"config {path}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    numbers = data.get("numbers") or []
    if not isinstance(numbers, list):
        raise ConfigError(f"config {path}: 'numbers' must be a list")
    for i, entry in enumerate(numbers):
        if not isinstance(entry, dict) or not entry.get("number"):
            raise ConfigError(f"config {path}: numbers[{i}] needs a 'number'")
        bad = set(entry) - set(NUMBER_KEYS)
        if bad:
            raise ConfigError(f"config {path}: numbers[{i}] has unknown key(s) "
                              f"{', '.join(sorted(map(str, bad)))}")
    callees = data.get("callees") or {}
    if not isinstance(callees, dict) or not all(
            isinstance(s, list) or s is None for s in callees.values()):
        raise ConfigError(f"config {path}: 'callees' must map numbers to lists of steps")
    return data


def apply_config(emu: Emulator, config: dict[str, Any]) -> None:
    """numbers: [{number, voice_url, voice_method, voice_fallback_url, status_callback,
    sms_url, ...}], callees: {"+1...": [script steps]}."""
    engine = emu.engine
    for entry in config.get("numbers") or []:
        form = {param: entry.get(key) for key, param in NUMBER_KEYS.items() if param}
        engine.numbers.create(str(entry["number"]),
                              {k: str(v) for k, v in form.items() if v is not None})
    for number, script in (config.get("callees") or {}).items():
        engine.callees[str(number)] = list(script or [])


async def serve(args: argparse.Namespace, config: dict[str, Any]) -> None:
    emu = Emulator(args.account_sid, args.auth_token, clock=args.clock)
    if config:
        apply_config(emu, config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        url = await emu.start(args.host, args.port)
        print(f"twilio-emulator listening on {url} (account {args.account_sid})", flush=True)
        await stop.wait()
    finally:
        await emu.stop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    print("twilio-emulator stopped", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = load_config(args.config) if args.config else {}
        asyncio.run(serve(args, config))
    except (ConfigError, ValueError, OSError) as exc:
        print(f"twilio-emulator: error: {exc}".splitlines()[0], file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0

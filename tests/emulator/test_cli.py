"""The ``twilio-emulator`` command as a subprocess: config provisioning, signals, errors."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).parent / "twilio-emulator"
ACCOUNT = "AC" + "d4" * 16
TOKEN = "cli-token"


CONFIG = """\
numbers:
  - {number: "+15005550006", voice_url: "http://127.0.0.1:5000/voice",
     voice_fallback_url: null, status_callback: null, sms_url: "http://127.0.0.1:5000/sms"}
  - number: "+15005550007"
    voice_url: "http://127.0.0.1:5000/other"
callees:
  "+14155550199": [{wait: 2}, {answer: answer}, {say: "hello"}, {hangup: true}]
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        str(SCRIPT), *args, cwd=str(ROOT), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_serves_config_numbers_and_stops_on_signal(tmp_path, sig):
    config = tmp_path / "numbers.yaml"
    config.write_text(CONFIG)
    port = free_port()
    proc = await run("--host", "127.0.0.1", "--port", str(port), "--account-sid", ACCOUNT,
                     "--auth-token", TOKEN, "--config", str(config))
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 15)).decode()
        assert f"http://127.0.0.1:{port}" in line
        url = f"http://127.0.0.1:{port}/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers.json"
        async with aiohttp.ClientSession() as s:
            async with s.get(url, auth=aiohttp.BasicAuth(ACCOUNT, TOKEN)) as r:
                assert r.status == 200
                numbers = (await r.json())["incoming_phone_numbers"]
            async with s.get(url, auth=aiohttp.BasicAuth(ACCOUNT, "wrong")) as r:
                assert r.status == 401
        by_number = {n["phone_number"]: n for n in numbers}
        assert set(by_number) == {"+15005550006", "+15005550007"}
        assert by_number["+15005550006"]["voice_url"] == "http://127.0.0.1:5000/voice"
        assert by_number["+15005550006"]["sms_url"] == "http://127.0.0.1:5000/sms"
        assert by_number["+15005550007"]["voice_fallback_url"] is None
        proc.send_signal(sig)
        out, err = await asyncio.wait_for(proc.communicate(), 15)
        assert proc.returncode == 0, err.decode()
        assert b"stopped" in out and b"Traceback" not in err
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.mark.parametrize(("text", "needle"), [
    ("numbers: [unclosed", "not valid YAML"),
    ("numbers:\n  - {voice_url: http://x/}\n", "needs a 'number'"),
    ("numbers:\n  - {number: '+1500', voice_ur: http://x/}\n", "unknown key"),
    ("- just a list\n", "top level must be a mapping"),
    (None, "cannot read config"),
])
async def test_bad_config_is_one_line_error(tmp_path, text, needle):
    config = tmp_path / "numbers.yaml"
    if text is not None:
        config.write_text(text)
    proc = await run("--port", str(free_port()), "--config", str(config))
    out, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 2
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("twilio-emulator: error:"), lines
    assert needle in lines[0]
    assert b"listening" not in out


async def test_bad_account_sid_and_busy_port(tmp_path):
    proc = await run("--port", str(free_port()), "--account-sid", "ACnope")
    _, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 2 and len(err.decode().strip().splitlines()) == 1
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        proc = await run("--port", str(busy.getsockname()[1]))
        _, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 2 and len(err.decode().strip().splitlines()) == 1, err

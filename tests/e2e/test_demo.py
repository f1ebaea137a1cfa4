"""`callcenter demo --calls N --exit`: the whole centre offline, every call checked."""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_demo_runs_calls_to_their_expected_end(tmp_path: Path):
    command = [
        str(Path(sys.executable).parent / "callcenter"), "demo", "--calls", "7", "--exit",
        "--clock", "virtual", "--interval", "0.1", "--port", str(_free_port()),
        "--emulator-port", str(_free_port()), "--smtp-port", str(_free_port()),
        "--data-dir", str(tmp_path / "demo"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 of 7 calls ended as expected" in result.stdout
    assert "password:" in result.stdout and "/admin" in result.stdout
    assert "calls from a blocked number" in result.stdout
    assert "email in:     SMTP" in result.stdout
    # The returning shop's email went through the listener onto their history.
    with contextlib.closing(sqlite3.connect(tmp_path / "demo" / "callcenter.db")) as db:
        landed = db.execute(
            "SELECT mail.status, ticket.requester_id = identity.customer_id FROM mail"
            " JOIN ticket ON ticket.id = mail.ticket_id"
            " JOIN identity ON identity.value = 'dana@plantshop.test'"
        ).fetchall()
    assert landed == [("landed", 1)]


def test_demo_refuses_to_wipe_a_directory_it_did_not_make(tmp_path: Path):
    precious = tmp_path / "data"
    precious.mkdir()
    (precious / "callcenter.db").write_text("a real install's database")
    command = [
        str(Path(sys.executable).parent / "callcenter"), "demo", "--calls", "1", "--exit",
        "--port", str(_free_port()), "--emulator-port", str(_free_port()),
        "--data-dir", str(precious),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert "was not made by the demo" in result.stderr
    assert (precious / "callcenter.db").read_text() == "a real install's database"

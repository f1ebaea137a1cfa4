"""Logs: dotted event names, a request id on every line, JSON on request, never a secret."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import pytest
from builders import make_token, make_user, sign_in
from quart import Quart
from quart.testing import QuartClient
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter import logs
from callcenter.http.clients import UNKNOWN

pytestmark = pytest.mark.backends("sqlite")  # logging does not depend on the database

PASSWORD = "a secret that must never be logged 4417"


@pytest.fixture
def root_logging() -> Iterator[None]:
    """Let a test call logs.configure() and put the root logger back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def everything_in(record: logging.LogRecord) -> str:
    return record.getMessage() + " " + repr(record.__dict__)


async def test_passwords_and_tokens_never_reach_the_logs(
    client: QuartClient,
    db_session: AsyncSession,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    root_logging: None,
) -> None:
    user = await make_user(db_session, password=PASSWORD)
    token = await make_token(db_session, user=user)
    await db_session.commit()
    logs.configure(level="DEBUG", fmt="text")
    caplog.set_level(logging.DEBUG)
    logging.getLogger().addHandler(caplog.handler)

    assert (await sign_in(client, email=user.email, password=PASSWORD[::-1])).status_code == 401
    assert (await sign_in(client, email=user.email, password=PASSWORD)).status_code == 302
    response = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200

    events = [record.getMessage() for record in caplog.records]
    assert "accounts.login.failed" in events
    assert "accounts.login.succeeded" in events
    assert "http.request" in events
    written = capsys.readouterr().err
    assert "accounts.login.succeeded" in written
    for secret in (PASSWORD, PASSWORD[::-1], token, token[3:]):
        for record in caplog.records:
            assert secret not in everything_in(record), record.getMessage()
        assert secret not in written


def test_redacting_filter_blanks_credential_extras(
    capsys: pytest.CaptureFixture[str], root_logging: None
) -> None:
    logs.configure(fmt="json")
    logging.getLogger("callcenter.test").warning(
        "test.event", extra={"password": "hunter2-hunter2", "auth_token": "tok-123456"}
    )
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["event"] == "test.event"
    assert "hunter2-hunter2" not in json.dumps(line)
    assert "tok-123456" not in json.dumps(line)


async def test_json_logs_carry_the_event_name_and_request_id(
    client: QuartClient,
    db_session: AsyncSession,
    capsys: pytest.CaptureFixture[str],
    root_logging: None,
) -> None:
    user = await make_user(db_session)
    await db_session.commit()
    logs.configure(level="INFO", fmt="json")

    await client.get("/healthz", headers={"X-Request-ID": "req-health-1"})
    response = await client.post(
        "/login", form={"email": user.email, "password": "wrong wrong wrong"},
        headers={"X-Request-ID": "req-login-2"},
    )
    assert response.status_code == 403  # no CSRF token: refused, and still logged
    assert response.headers["X-Request-ID"] == "req-login-2"

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]
    health = [line for line in lines if line.get("request_id") == "req-health-1"]
    assert health, lines
    assert health[-1]["event"] == "http.request"
    assert health[-1]["path"] == "/healthz"
    assert health[-1]["status"] == 200
    assert health[-1]["level"] == "INFO"
    assert all("." in line["event"] for line in lines if line["name"].startswith("callcenter"))
    assert any(line.get("request_id") == "req-login-2" for line in lines)


async def test_text_logs_show_the_request_id(
    client: QuartClient, capsys: pytest.CaptureFixture[str], root_logging: None
) -> None:
    logs.configure(level="INFO", fmt="text")

    response = await client.get("/healthz")

    rid = response.headers["X-Request-ID"]
    assert rid
    written = capsys.readouterr().err
    assert f"[{rid}] http.request" in written
    assert "path=/healthz" in written


def http_request_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.getMessage() == "http.request"]


async def test_the_request_line_names_the_client(
    client: QuartClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    await client.get("/healthz", scope_base={"client": ("203.0.113.5", 51000)})

    assert http_request_records(caplog)[-1].client == "203.0.113.5"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("settings_overrides", "expected"),
    [
        ({"trusted_proxies": 0}, "10.0.0.2"),
        ({"trusted_proxies": 1}, "10.0.0.1"),
        ({"trusted_proxies": 2}, "203.0.113.2"),
        ({"trusted_proxies": 4}, "10.0.0.2"),  # fewer entries than proxies: not believed
    ],
    indirect=["settings_overrides"],
)
async def test_x_forwarded_for_counts_only_as_far_as_the_trusted_proxies(
    client: QuartClient, caplog: pytest.LogCaptureFixture, expected: str
) -> None:
    """The client wrote the left-most entries itself; each trusted proxy appended one."""
    caplog.set_level(logging.INFO)

    await client.get(
        "/healthz",
        headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.2, 10.0.0.1"},
        scope_base={"client": ("10.0.0.2", 51000)},
    )

    assert http_request_records(caplog)[-1].client == expected  # type: ignore[attr-defined]


@pytest.mark.settings(login_max_failures=1, login_address_email_attempts=2)
async def test_a_failed_login_logs_the_email_tried_and_why(
    app: Quart, db_session: AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    await make_user(db_session, email="known@example.com", password=PASSWORD)
    await make_user(db_session, email="gone@example.com", password=PASSWORD, is_active=False)
    await db_session.commit()
    caplog.set_level(logging.INFO)
    tries = [
        ("nobody@example.com", PASSWORD, "unknown_email"),
        ("known@example.com", PASSWORD[::-1], "wrong_password"),  # and the account locks
        ("known@example.com", PASSWORD, "locked"),
        ("gone@example.com", PASSWORD, "inactive"),
        ("known@example.com", PASSWORD, "throttled"),  # the 3rd try of this address and email
        (PASSWORD, PASSWORD, "unknown_email"),  # a password typed in the email box
    ]

    for email, password, _reason in tries:
        await sign_in(app.test_client(), email=email, password=password)

    failed = [r for r in caplog.records if r.getMessage() == "accounts.login.failed"]
    logged = [(r.email, r.reason) for r in failed]  # type: ignore[attr-defined]
    assert logged == [
        (email if "@" in email else "(not an email address)", reason)
        for email, _password, reason in tries
    ]
    assert {r.client for r in failed} == {UNKNOWN}  # type: ignore[attr-defined]
    for record in caplog.records:
        for secret in (PASSWORD, PASSWORD[::-1]):
            assert secret not in everything_in(record), record.getMessage()


async def test_text_logs_cannot_be_given_extra_lines(
    client: QuartClient, capsys: pytest.CaptureFixture[str], root_logging: None
) -> None:
    """A typed email with a line break must not write a forged event on a line of its own."""
    logs.configure(level="INFO", fmt="text")

    await sign_in(client, email="a@example.com\n2026-01-01 INFO [x] accounts.login.succeeded")

    written = capsys.readouterr().err
    assert not any(line.startswith("2026-01-01") for line in written.splitlines())
    assert "a@example.com\\n2026-01-01" in written


async def test_a_request_id_that_is_not_one_is_replaced(client: QuartClient) -> None:
    """A proxy's id is echoed and logged; anything else a client sends is not."""
    kept = await client.get("/healthz", headers={"X-Request-ID": "edge-7f3a:1"})
    assert kept.headers["X-Request-ID"] == "edge-7f3a:1"
    for junk in ('x" forged="1', "a" * 65, "tab\there"):
        replaced = await client.get("/healthz", headers={"X-Request-ID": junk})
        assert replaced.headers["X-Request-ID"] != junk
        assert re.fullmatch(r"[0-9a-f]{16}", replaced.headers["X-Request-ID"])

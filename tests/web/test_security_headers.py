"""Every response carries the headers that keep browsers from framing, sniffing or running
anything the app did not send; the API docs page alone allows its one inline script."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from builders import make_user, sign_in
from quart.testing import QuartClient
from sqlalchemy.ext.asyncio import AsyncSession

pytestmark = pytest.mark.backends("sqlite")  # headers do not depend on the database

STRICT_SCRIPTS = "script-src 'self';"


def assert_protected(response, what: str) -> None:
    headers = response.headers
    policy = headers.get("Content-Security-Policy", "")
    assert "default-src 'self'" in policy, what
    assert "frame-ancestors 'none'" in policy, what
    assert "object-src 'none'" in policy, what
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, what
    assert headers.get("X-Frame-Options") == "DENY", what
    assert headers.get("X-Content-Type-Options") == "nosniff", what
    assert headers.get("Referrer-Policy") == "same-origin", what


async def test_every_kind_of_response_carries_them(client: QuartClient) -> None:
    requests = {
        "login page": ("GET", "/login"),
        "redirect to login": ("GET", "/"),
        "API 401": ("GET", "/api/me"),
        "health check": ("GET", "/healthz"),
        "stylesheet": ("GET", "/static/app.css"),
        "vendored file": ("GET", "/vendor/swagger-ui/swagger-ui.css"),
        "OpenAPI document": ("GET", "/openapi.json"),
        "missing page": ("GET", "/no/such/page"),
        "CSRF refusal": ("POST", "/login"),
        "unsigned webhook": ("POST", "/twilio/voice/incoming"),
    }
    for what, (method, path) in requests.items():
        response = await client.open(path, method=method)
        assert_protected(response, what)
        assert STRICT_SCRIPTS in response.headers["Content-Security-Policy"], what


async def test_the_api_docs_page_allows_only_its_own_inline_script(client: QuartClient) -> None:
    response = await client.get("/api/docs")

    assert_protected(response, "API docs")
    page = await response.get_data(as_text=True)
    inline = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    policy = response.headers["Content-Security-Policy"]
    assert f"script-src 'self' 'sha256-{digest}';" in policy


async def test_pages_for_a_signed_in_user_are_not_cached(
    client: QuartClient, db_session: AsyncSession
) -> None:
    user = await make_user(db_session)
    await db_session.commit()
    assert "no-store" not in (await client.get("/login")).headers.get("Cache-Control", "")

    await sign_in(client, email=user.email)

    for path in ("/", "/api/me"):
        assert (await client.get(path)).headers["Cache-Control"] == "no-store", path


async def test_no_hsts_over_plain_http(client: QuartClient) -> None:
    assert "Strict-Transport-Security" not in (await client.get("/login")).headers


@pytest.mark.settings(public_base_url="https://cc.example.com")
async def test_hsts_when_users_reach_the_app_over_tls(client: QuartClient) -> None:
    response = await client.get("/login")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"

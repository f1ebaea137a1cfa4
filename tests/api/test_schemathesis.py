"""Schemathesis explores the API from its own OpenAPI document: no 500s, and nothing the
document does not promise (status codes, content types, bodies, the `Allow` of a 405).

Every built-in check runs against the live server: as an admin with a bearer token, on
both backends (so the routes' real work is explored, not only their 401s), and
anonymously on one. The examples are bounded (10 and 5 per operation) to keep the suite
short.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from builders import make_token, make_user
from hypothesis import HealthCheck, settings
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.accounts.models import Role
from callcenter.app import create_app
from callcenter.config import Settings


def _served_document() -> dict[str, Any]:
    """What /openapi.json serves, read once at collection to make one test per operation.

    `schemathesis.pytest.from_fixture` would read it from each test's own server, but it
    fails on pytest 9 (it sets `Function._nodeid`). The document depends on the routes alone,
    so an app that never opens its database serves the same one.
    """
    with tempfile.TemporaryDirectory() as directory:
        data_dir = Path(directory)
        database_url = f"sqlite:///{data_dir / 'never-opened.db'}"
        app = create_app(
            Settings(data_dir=data_dir, database_url=database_url, secret_key="x" * 32)
        )

        async def read() -> dict[str, Any]:
            return await (await app.test_client().get("/openapi.json")).get_json()

        return asyncio.run(read())


schema = schemathesis.openapi.from_dict(_served_document())


@pytest.fixture
async def admin(db_session: AsyncSession) -> dict[str, str]:
    """An admin's bearer token: the routes' real work is explored, not only their 401s."""
    token = await make_token(db_session, user=await make_user(db_session, role=Role.admin))
    await db_session.commit()
    return {"Authorization": f"Bearer {token}"}


# Configured as a deployment is, API Key included (softphone tokens are signed with it).
DEPLOYED = pytest.mark.settings(
    twilio_api_key_sid="SK" + "f6" * 16,
    twilio_api_key_secret="an API key secret long enough for HS256 use",
)
# The examples share the test's server and database on purpose: that is the API's life.
SHARED = [HealthCheck.function_scoped_fixture]


@DEPLOYED
@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=SHARED)
async def test_api_keeps_its_openapi_document(
    admin: dict[str, str], case: schemathesis.Case, live_server: str
) -> None:
    # The live server runs on this event loop: the blocking call must leave the loop free.
    await asyncio.to_thread(case.call_and_validate, base_url=live_server, headers=admin)


@DEPLOYED
@pytest.mark.backends("sqlite")
@schema.parametrize()
@settings(max_examples=5, deadline=None, suppress_health_check=SHARED)
async def test_api_refuses_an_anonymous_caller_as_documented(
    case: schemathesis.Case, live_server: str
) -> None:
    """A caller without a token is refused before any query (one backend tells all, and a
    few examples: the refusal does not depend on the input)."""
    await asyncio.to_thread(case.call_and_validate, base_url=live_server, headers={})

"""/healthz: what a load balancer polls, 200 with the database up and 503 without it."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import pytest
from quart.testing import QuartClient

from callcenter.app import create_app
from callcenter.config import Settings


async def test_healthz_is_200_while_the_database_answers(client: QuartClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert await response.get_json() == {"status": "ok", "database": "ok"}


@pytest.mark.parametrize(
    "url_template",
    [
        pytest.param("postgresql+asyncpg://postgres@127.0.0.1:{port}/nothing", id="postgres-down"),
        pytest.param("sqlite+aiosqlite:///{tmp}", id="sqlite-path-is-a-directory"),
    ],
)
async def test_healthz_is_503_when_the_database_is_unreachable(
    tmp_path: Path, free_port: int, url_template: str
) -> None:
    url = url_template.format(port=free_port, tmp=tmp_path)
    app = create_app(Settings(data_dir=tmp_path / "data", database_url=url, secret_key="k" * 40))
    async with app.test_app():
        response = await app.test_client().get("/healthz")
    # aiosqlite's half-opened connection must be collected while this loop still runs.
    gc.collect()
    await asyncio.sleep(0.05)
    assert response.status_code == 503
    assert await response.get_json() == {"status": "unavailable", "database": "unreachable"}

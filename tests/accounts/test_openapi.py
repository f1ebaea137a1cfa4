"""The API is documented: /openapi.json and a Swagger UI page served from our own files."""

from __future__ import annotations

import re

import pytest
from quart.testing import QuartClient

pytestmark = pytest.mark.backends("sqlite")  # nothing here depends on the database


async def test_openapi_documents_the_users_api(client: QuartClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    spec = await response.get_json()

    assert "/api/users" in spec["paths"]
    responses = spec["paths"]["/api/users"]["get"]["responses"]
    assert {"200", "401", "403"} <= set(responses)
    parameters = {p["name"] for p in spec["paths"]["/api/users"]["get"]["parameters"]}
    assert {"page", "per_page", "role"} <= parameters
    assert "/api/me" in spec["paths"]
    assert "bearer" in spec["components"]["securitySchemes"]


async def test_openapi_documents_the_400_of_a_bad_users_query(client: QuartClient) -> None:
    """GET /api/users answers 400 JSON for a bad query, so the spec must say so."""
    spec = await (await client.get("/openapi.json")).get_json()
    responses = spec["paths"]["/api/users"]["get"]["responses"]
    assert "400" in responses, f"documented: {sorted(responses)}"


async def test_api_docs_page_uses_only_our_own_swagger_ui_files(client: QuartClient) -> None:
    response = await client.get("/api/docs")
    assert response.status_code == 200
    page = await response.get_data(as_text=True)

    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page)
    assert any(a.startswith("/vendor/swagger-ui/") and a.endswith(".js") for a in assets)
    assert any(a.startswith("/vendor/swagger-ui/") and a.endswith(".css") for a in assets)
    assert not re.search(r"https?://(?!127\.0\.0\.1|localhost)", page), "a CDN or outside URL"
    for asset in assets:
        if asset.startswith("/vendor/"):
            served = await client.get(asset)
            assert served.status_code == 200, asset
            assert len(await served.get_data()) > 1000, asset


async def test_unknown_vendor_package_is_404(client: QuartClient) -> None:
    assert (await client.get("/vendor/left-pad/index.js")).status_code == 404
    assert (await client.get("/vendor/swagger-ui/../../pyproject.toml")).status_code == 404

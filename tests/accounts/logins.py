"""Signing in from a given client address, as the tests of throttling and lockout need."""

from __future__ import annotations

from builders import DEFAULT_PASSWORD, csrf_from
from quart import Response
from quart.testing import QuartClient


async def attempt(
    client: QuartClient,
    email: str,
    password: str = DEFAULT_PASSWORD,
    *,
    address: str = "192.0.2.10",
) -> Response:
    """GET the login form and POST it back from `address` (the connection's peer)."""
    scope = {"client": (address, 40000)}
    page = await (await client.get("/login", scope_base=scope)).get_data(as_text=True)
    form = {"email": email, "password": password, "csrf_token": csrf_from(page)}
    return await client.post("/login", form=form, scope_base=scope)


async def sign_out(client: QuartClient) -> None:
    page = await (await client.get("/")).get_data(as_text=True)
    response = await client.post("/logout", form={"csrf_token": csrf_from(page)})
    assert response.status_code == 302


async def signed_in_as(client: QuartClient) -> str | None:
    response = await client.get("/api/me")
    if response.status_code != 200:
        return None
    return (await response.get_json())["email"]

"""The API's contract at its edges: bounded numbers, unparsable bodies, who is asked first,
what a 401 or 405 carries, and what the OpenAPI document promises."""

from __future__ import annotations

import re
from typing import Any

import pytest
from builders import make_token, make_user
from quart import Response
from quart.testing import QuartClient
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter import api
from callcenter.accounts.models import Role

ACTIVITY = "/api/agents/me/activity"
# Never a valid token, but a bearer header: the CSRF check (for cookies) lets it through.
WRONG_BEARER = {"Authorization": "Bearer not-a-token"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def json_error(response: Response, status: int) -> dict[str, str]:
    """The `{"error": {"code", "message"}}` body of an error answer, checked."""
    body = await response.get_json()
    assert response.status_code == status, body
    assert response.mimetype == "application/json"
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return body["error"]


async def token_for(db_session: AsyncSession, role: Role) -> dict[str, str]:
    token = await make_token(db_session, user=await make_user(db_session, role=role))
    await db_session.commit()
    return bearer(token)


async def document(client: QuartClient) -> dict[str, Any]:
    return await (await client.get("/openapi.json")).get_json()


# --- numbers that reach SQL ------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "page=3179977906288135262699520",
        f"page={2**62}",  # fits 64 bits, but OFFSET = (page - 1) * per_page does not
        f"page={api.MAX_PAGE + 1}",
        "page=0",
        "per_page=3179977906288135262699520",
        f"per_page={api.MAX_PER_PAGE + 1}",
        "per_page=0",
    ],
)
async def test_a_page_or_size_out_of_bounds_is_400(
    client: QuartClient, db_session: AsyncSession, query: str
) -> None:
    headers = await token_for(db_session, Role.admin)
    response = await client.get(f"/api/users?{query}", headers=headers)
    assert (await json_error(response, 400))["code"] == "invalid_request"


async def test_the_largest_page_and_size_reach_sql_on_both_databases(
    client: QuartClient, db_session: AsyncSession
) -> None:
    headers = await token_for(db_session, Role.admin)
    query = f"page={api.MAX_PAGE}&per_page={api.MAX_PER_PAGE}"
    response = await client.get(f"/api/users?{query}", headers=headers)
    assert response.status_code == 200
    body = await response.get_json()
    assert body["items"] == [] and body["total"] == 1 and body["next_page"] is None


# --- request bodies ----------------------------------------------------------------------------


@pytest.mark.backends("sqlite")
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b"\xff\xfe"),
        ("application/json", b'{"activity": "away\xff"}'),
        ("application/json", b'{"activity": '),
        ("application/json", b""),
        ("application/json", b"[]"),
        ("application/json", b'"away"'),
        ("application/json", b"null"),
        ("text/plain", b'{"activity": "away"}'),
        ("application/x-www-form-urlencoded", b"activity=away"),
    ],
    ids=[
        "invalid-utf8",
        "invalid-utf8-in-a-string",
        "invalid-json",
        "empty",
        "array",
        "string",
        "null",
        "not-sent-as-json",
        "form",
    ],
)
async def test_a_body_that_is_not_a_json_object_is_400_json(
    client: QuartClient, db_session: AsyncSession, content_type: str, body: bytes
) -> None:
    headers = {**await token_for(db_session, Role.agent), "Content-Type": content_type}
    response = await client.put(ACTIVITY, data=body, headers=headers)
    await json_error(response, 400)


# --- authentication comes first ------------------------------------------------------------


@pytest.mark.backends("sqlite")
async def test_an_anonymous_bad_query_is_401_without_schema_details(client: QuartClient) -> None:
    error = await json_error(await client.get("/api/users?page=0&per_page=x&role=x"), 401)
    assert error["code"] == "unauthorized"
    assert "page" not in error["message"]


@pytest.mark.backends("sqlite")
async def test_a_bad_query_from_a_role_below_is_403(
    client: QuartClient, db_session: AsyncSession
) -> None:
    headers = await token_for(db_session, Role.agent)
    response = await client.get("/api/users?page=0&per_page=x", headers=headers)
    assert (await json_error(response, 403))["code"] == "forbidden"


@pytest.mark.backends("sqlite")
async def test_every_documented_route_refuses_a_stranger_before_reading_the_request(
    client: QuartClient,
) -> None:
    """Garbage in every place a route could read, from a caller with a wrong token: 401."""
    paths = (await document(client))["paths"]
    operations = [(method, path) for path, item in paths.items() for method in item]
    assert len(operations) >= 5
    for method, path in operations:
        response = await client.open(
            f"{re.sub(r'{[^}]+}', '1', path)}?page=0&per_page=x&role=x",
            method=method.upper(),
            data=b"\xff{",
            headers={**WRONG_BEARER, "Content-Type": "application/json"},
        )
        assert (await json_error(response, 401))["code"] == "unauthorized", (method, path)


@pytest.mark.backends("sqlite")
async def test_an_anonymous_write_is_401_not_a_form_error(client: QuartClient) -> None:
    """No token and no session: nothing for CSRF to protect, so the answer is the API's 401."""
    response = await client.put("/api/agents/me/activity", json={"activity": "available"})
    assert (await json_error(response, 401))["code"] == "unauthorized"


# --- what an error answer carries ------------------------------------------------------------


@pytest.mark.backends("sqlite")
async def test_a_401_names_the_bearer_scheme(client: QuartClient) -> None:
    response = await client.get("/api/me")
    await json_error(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.backends("sqlite")
@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/api/me", "GET, HEAD, OPTIONS"),
        ("POST", "/api/agents", "GET, HEAD, OPTIONS"),
        ("GET", ACTIVITY, "OPTIONS, PUT"),
    ],
)
async def test_a_405_says_which_methods_are_allowed(
    client: QuartClient, method: str, path: str, allowed: str
) -> None:
    response = await client.open(path, method=method, headers=WRONG_BEARER)
    assert (await json_error(response, 405))["code"] == "method_not_allowed"
    sent = sorted(name.strip() for name in response.headers["Allow"].split(","))
    assert ", ".join(sent) == allowed


# --- the OpenAPI document ----------------------------------------------------------------------


@pytest.mark.backends("sqlite")
async def test_every_request_body_is_required(client: QuartClient) -> None:
    bodies = [
        (path, operation["requestBody"])
        for path, item in (await document(client))["paths"].items()
        for operation in item.values()
        if "requestBody" in operation
    ]
    assert [path for path, _ in bodies] == [
        ACTIVITY,
        "/api/agents/me/work/hold",
        "/api/agents/me/work/transfer",
        "/api/agents/me/work/wrap-up",
        "/api/agents/{agent_id}",
        "/api/agents/{agent_id}/monitor",
        "/api/blocklist",
        "/api/blocklist/import",
        "/api/chats/{conversation_id}/typing",
        "/api/customers/{customer_id}",
        "/api/customers/{customer_id}/identities",
        "/api/customers/{customer_id}/merge",
        "/api/desk-settings",
        "/api/dispositions",
        "/api/groups",
        "/api/groups/{group_id}",
        "/api/ivr/flows/{name}/draft",
        "/api/ivr/flows/{name}/publish",
        "/api/ivr/flows/{name}/rollback",
        "/api/ivr/flows/{name}/simulate",
        "/api/macros",
        "/api/queues",
        "/api/queues/{queue_id}",
        "/api/queues/{queue_id}/workflow",
        "/api/sla-policies/{priority}",
        "/api/tickets",
        "/api/tickets/{ticket_id}",
        "/api/tickets/{ticket_id}/events/{event_id}/move",
        "/api/tickets/{ticket_id}/merge",
        "/api/tickets/{ticket_id}/notes",
        "/api/tickets/{ticket_id}/replies",
        "/api/tickets/{ticket_id}/time",
        "/api/tickets/{ticket_id}/timer",
        "/api/time-entries/{entry_id}/corrections",
        "/api/triggers",
        "/api/triggers/{trigger_id}",
        "/api/webhooks",
        "/api/webhooks/{webhook_id}",
    ]
    assert all(body.get("required") is True for _, body in bodies)


@pytest.mark.backends("sqlite")
async def test_the_document_keeps_each_routes_schemas_behind_require_role(
    client: QuartClient,
) -> None:
    """`require_role` wraps the validators now; their metadata must still reach the document."""
    paths = (await document(client))["paths"]
    documented = {
        (method, path): set(operation["responses"])
        for path, item in paths.items()
        for method, operation in item.items()
    }
    assert documented == {
        ("get", "/api/me"): {"200", "401"},
        ("get", "/api/users"): {"200", "400", "401", "403"},
        ("get", "/api/agents/me"): {"200", "401"},
        ("put", ACTIVITY): {"200", "400", "401", "403"},
        ("get", "/api/agents"): {"200", "401", "403"},
        ("patch", "/api/agents/{agent_id}"): {"200", "400", "401", "403", "404"},
        ("get", "/api/agents/{agent_id}/log"): {"200", "400", "401", "403", "404"},
        ("post", "/api/agents/me/wrap-up/end"): {"200", "401", "403", "409"},
        ("post", "/api/agents/me/heartbeat"): {"200", "401", "403"},
        ("post", "/api/agents/me/voice-token"): {"200", "401", "403", "503"},
        ("get", "/api/agents/me/work"): {"200", "401", "403"},
        ("put", "/api/agents/me/work/hold"): {"200", "400", "401", "403", "409", "502"},
        ("post", "/api/agents/me/work/hangup"): {"200", "401", "403", "409", "502"},
        ("post", "/api/agents/me/work/wrap-up"): {"200", "400", "401", "403", "404", "409"},
        ("get", "/api/agents/me/work/transfer-targets"): {"200", "401", "403"},
        ("post", "/api/agents/me/work/transfer"): {
            "200", "400", "401", "403", "404", "409", "502"
        },
        ("post", "/api/agents/me/work/transfer/complete"): {"200", "401", "403", "409", "502"},
        ("post", "/api/agents/me/work/transfer/cancel"): {"200", "401", "403", "409", "502"},
        ("post", "/api/agents/{agent_id}/monitor"): {
            "200", "400", "401", "403", "404", "409", "502"
        },
        ("get", "/api/dispositions"): {"200", "401", "403"},
        ("post", "/api/tickets/{ticket_id}/call"): {"200", "401", "403", "404", "409"},
        ("post", "/api/dispositions"): {"201", "400", "401", "403"},
        ("delete", "/api/dispositions/{disposition_id}"): {"200", "401", "403", "404"},
        ("get", "/api/queues"): {"200", "401"},
        ("post", "/api/queues"): {"201", "400", "401", "403", "409", "422"},
        ("get", "/api/queues/{queue_id}"): {"200", "401", "404"},
        ("patch", "/api/queues/{queue_id}"): {"200", "400", "401", "403", "404", "422"},
        ("delete", "/api/queues/{queue_id}"): {"200", "401", "403", "404", "409"},
        ("put", "/api/queues/{queue_id}/workflow"): {
            "200", "400", "401", "403", "404", "422"
        },
        ("delete", "/api/queues/{queue_id}/workflow"): {"200", "401", "403", "404"},
        ("get", "/api/workflows"): {"200", "401"},
        ("get", "/api/workflows/{workflow_id}"): {"200", "401", "404"},
        ("get", "/api/tasks"): {"200", "400", "401", "403", "404"},
        ("get", "/api/customers"): {"200", "400", "401", "403"},
        ("get", "/api/customers/{customer_id}"): {"200", "401", "403", "404"},
        ("patch", "/api/customers/{customer_id}"): {"200", "400", "401", "403", "404"},
        ("post", "/api/customers/{customer_id}/identities"): {
            "201", "400", "401", "403", "404", "409", "422"
        },
        ("delete", "/api/customers/{customer_id}/identities/{identity_id}"): {
            "200", "401", "403", "404"
        },
        ("post", "/api/customers/{customer_id}/merge"): {
            "200", "400", "401", "403", "404", "409"
        },
        ("get", "/api/customers/{customer_id}/timeline"): {"200", "400", "401", "403", "404"},
        ("get", "/api/macros"): {"200", "401", "403"},
        ("post", "/api/macros"): {"201", "400", "401", "403", "409", "422"},
        ("get", "/api/tickets"): {"200", "400", "401", "403"},
        ("post", "/api/tickets"): {"201", "400", "401", "403", "404", "422"},
        ("get", "/api/tickets/views"): {"200", "401", "403"},
        ("get", "/api/tickets/{ticket_id}"): {"200", "401", "403", "404"},
        ("patch", "/api/tickets/{ticket_id}"): {"200", "400", "401", "403", "404", "422"},
        ("get", "/api/tickets/{ticket_id}/events"): {"200", "401", "403", "404"},
        ("post", "/api/tickets/{ticket_id}/events/{event_id}/move"): {
            "200", "400", "401", "403", "404", "409"
        },
        ("get", "/api/tickets/{ticket_id}/last-five"): {"200", "401", "403", "404"},
        ("post", "/api/tickets/{ticket_id}/macros/{macro_id}"): {
            "200", "401", "403", "404", "409"
        },
        ("post", "/api/tickets/{ticket_id}/merge"): {"200", "400", "401", "403", "404", "409"},
        ("post", "/api/tickets/{ticket_id}/notes"): {"201", "400", "401", "403", "404"},
        ("post", "/api/tickets/{ticket_id}/replies"): {
            "201", "400", "401", "403", "404", "422",
        },
        ("get", "/api/tickets/{ticket_id}/time"): {"200", "401", "403", "404"},
        ("post", "/api/tickets/{ticket_id}/time"): {"201", "400", "401", "403", "404", "422"},
        ("put", "/api/tickets/{ticket_id}/timer"): {"200", "400", "401", "403", "404"},
        ("post", "/api/time-entries/{entry_id}/corrections"): {
            "201", "400", "401", "403", "404", "422"
        },
        ("get", "/api/blocklist"): {"200", "400", "401", "403"},
        ("post", "/api/blocklist"): {"201", "400", "401", "403", "422"},
        ("post", "/api/blocklist/import"): {"200", "400", "401", "403", "422"},
        ("delete", "/api/blocklist/{entry_id}"): {"200", "401", "403", "404"},
        ("get", "/api/webhooks"): {"200", "401", "403"},
        ("post", "/api/webhooks"): {"201", "400", "401", "403", "422"},
        ("patch", "/api/webhooks/{webhook_id}"): {"200", "400", "401", "403", "404", "422"},
        ("delete", "/api/webhooks/{webhook_id}"): {"200", "401", "403", "404"},
        ("post", "/api/webhooks/{webhook_id}/ping"): {"202", "401", "403", "404"},
        ("get", "/api/webhooks/{webhook_id}/deliveries"): {"200", "400", "401", "403", "404"},
        ("post", "/api/webhook-deliveries/{delivery_id}/retry"): {"202", "401", "403", "404"},
        ("get", "/api/triggers"): {"200", "401", "403"},
        ("post", "/api/triggers"): {"201", "400", "401", "403", "422"},
        ("patch", "/api/triggers/{trigger_id}"): {"200", "400", "401", "403", "404", "422"},
        ("delete", "/api/triggers/{trigger_id}"): {"200", "401", "403", "404"},
        ("get", "/api/sla-policies"): {"200", "401", "403"},
        ("put", "/api/sla-policies/{priority}"): {"200", "400", "401", "403", "404", "422"},
        ("get", "/api/desk-settings"): {"200", "401", "403"},
        ("put", "/api/desk-settings"): {"200", "400", "401", "403", "422"},
        ("get", "/api/groups"): {"200", "401", "403"},
        ("post", "/api/groups"): {"201", "400", "401", "403", "422"},
        ("patch", "/api/groups/{group_id}"): {"200", "400", "401", "403", "404", "422"},
        ("post", "/api/chats/{conversation_id}/typing"): {"200", "400", "401", "403", "404"},
        ("post", "/api/chats/{conversation_id}/close"): {"200", "401", "403", "404", "409"},
        ("get", "/api/ivr/flows"): {"200", "401", "403"},
        ("get", "/api/ivr/flows/{name}"): {"200", "401", "403", "404"},
        ("put", "/api/ivr/flows/{name}/draft"): {"200", "400", "401", "403", "422"},
        ("post", "/api/ivr/flows/{name}/publish"): {"201", "400", "401", "403", "404", "422"},
        ("post", "/api/ivr/flows/{name}/rollback"): {"201", "400", "401", "403", "404", "422"},
        ("get", "/api/ivr/flows/{name}/diff/{older}/{newer}"): {"200", "401", "403", "404"},
        ("post", "/api/ivr/flows/{name}/simulate"): {"200", "400", "401", "403", "404", "422"},
    }
    users = paths["/api/users"]["get"]["parameters"]
    assert {(p["name"], p["schema"].get("maximum")) for p in users} == {
        ("page", api.MAX_PAGE),
        ("per_page", api.MAX_PER_PAGE),
        ("role", None),
    }
    body = paths[ACTIVITY]["put"]["requestBody"]["content"]["application/json"]["schema"]
    activity = body["properties"]["activity"]
    if "$ref" in activity:
        schemas = (await document(client))["components"]["schemas"]
        activity = schemas[activity["$ref"].split("/")[-1]]
    assert activity["enum"] == ["offline", "available", "break"]

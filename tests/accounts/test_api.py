"""The users API: who may call it, what it answers, and how errors look."""

from __future__ import annotations

from builders import DEFAULT_PASSWORD, make_token, make_user
from quart.testing import QuartClient
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.accounts.models import Role


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_json_error(response, status: int, body: dict) -> None:
    assert response.status_code == status, body
    assert response.mimetype == "application/json"
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] and body["error"]["message"]


async def test_users_without_a_token_is_401_json(client: QuartClient) -> None:
    response = await client.get("/api/users")
    assert_json_error(response, 401, await response.get_json())


async def test_users_refuses_agents_and_supervisors_with_403_json(
    client: QuartClient, db_session: AsyncSession
) -> None:
    tokens = {}
    for role in (Role.agent, Role.supervisor):
        tokens[role] = await make_token(db_session, user=await make_user(db_session, role=role))
    await db_session.commit()

    for role, token in tokens.items():
        response = await client.get("/api/users", headers=bearer(token))
        body = await response.get_json()
        assert_json_error(response, 403, body)
        assert body["error"]["code"] == "forbidden", role


async def test_users_pages_through_every_user_for_an_admin(
    client: QuartClient, db_session: AsyncSession
) -> None:
    admin = await make_user(db_session, role=Role.admin, email="admin@example.com")
    for number in range(4):
        await make_user(db_session, email=f"agent{number}@example.com")
    token = await make_token(db_session, user=admin)
    await db_session.commit()

    seen = []
    page, pages = 1, []
    while page is not None:
        response = await client.get(f"/api/users?per_page=2&page={page}", headers=bearer(token))
        assert response.status_code == 200
        body = await response.get_json()
        assert body["page"] == page
        assert body["per_page"] == 2
        assert body["total"] == 5
        assert len(body["items"]) <= 2
        seen += [item["email"] for item in body["items"]]
        pages.append(page)
        page = body["next_page"]

    assert pages == [1, 2, 3]
    assert seen == ["admin@example.com"] + [f"agent{n}@example.com" for n in range(4)]
    first = (await (await client.get("/api/users", headers=bearer(token))).get_json())["items"][0]
    assert first["role"] == "admin"
    assert "password_hash" not in first


async def test_users_filters_by_role(
    client: QuartClient, db_session: AsyncSession
) -> None:
    admin = await make_user(db_session, role=Role.admin)
    await make_user(db_session, role=Role.agent)
    supervisor = await make_user(db_session, role=Role.supervisor)
    token = await make_token(db_session, user=admin)
    await db_session.commit()

    response = await client.get("/api/users?role=supervisor", headers=bearer(token))
    assert response.status_code == 200
    body = await response.get_json()
    assert [item["email"] for item in body["items"]] == [supervisor.email]
    assert body["total"] == 1
    assert body["next_page"] is None


async def test_users_bad_query_is_400_json(
    client: QuartClient, db_session: AsyncSession
) -> None:
    token = await make_token(db_session, user=await make_user(db_session, role=Role.admin))
    await db_session.commit()

    for query in ("per_page=0", "page=0", "role=overlord", "per_page=many"):
        response = await client.get(f"/api/users?{query}", headers=bearer(token))
        assert_json_error(response, 400, await response.get_json())


async def test_revoked_and_unknown_tokens_are_401(
    client: QuartClient, db_session: AsyncSession
) -> None:
    admin = await make_user(db_session, role=Role.admin)
    revoked = await make_token(db_session, user=admin, revoked=True)
    deactivated = await make_user(db_session, role=Role.admin)
    inactive = await make_token(db_session, user=deactivated)
    deactivated.is_active = False  # behind the service's back: the check must not rely on it
    await db_session.commit()

    for token in (revoked, inactive, "cc_" + "x" * 43, ""):
        response = await client.get("/api/users", headers=bearer(token))
        assert_json_error(response, 401, await response.get_json())


async def test_me_answers_for_the_session_cookie_after_signing_in(
    client: QuartClient, db_session: AsyncSession
) -> None:
    user = await make_user(db_session, role=Role.supervisor, name="Sam Supervisor")
    await db_session.commit()
    assert (await client.get("/api/me")).status_code == 401

    await client.get("/login")
    async with client.session_transaction() as session:
        csrf = session["csrf"]
    response = await client.post(
        "/login", form={"email": user.email, "password": DEFAULT_PASSWORD, "csrf_token": csrf}
    )
    assert response.status_code == 302

    response = await client.get("/api/me")
    assert response.status_code == 200
    assert await response.get_json() == {
        "id": user.id, "email": user.email, "name": "Sam Supervisor", "role": "supervisor",
    }


async def test_me_answers_for_a_bearer_token(
    client: QuartClient, db_session: AsyncSession
) -> None:
    user = await make_user(db_session, role=Role.agent)
    token = await make_token(db_session, user=user)
    await db_session.commit()

    response = await client.get("/api/me", headers=bearer(token))
    assert response.status_code == 200
    assert (await response.get_json())["email"] == user.email

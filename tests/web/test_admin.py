"""The admin page's buttons: deactivate, activate, unlock, revoke a token; CSRF and audit."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from builders import csrf_from, make_token, make_user, sign_in
from quart import Quart
from quart.testing import QuartClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.accounts.models import ApiToken, Role, User
from callcenter.audit.models import AuditEntry
from callcenter.db import utcnow


@pytest.fixture
async def admin_client(client: QuartClient, db_session: AsyncSession) -> QuartClient:
    admin = await make_user(db_session, role=Role.admin, email="root@example.com")
    await db_session.commit()
    assert (await sign_in(client, email=admin.email)).status_code == 302
    return client


async def admin_page(client: QuartClient) -> str:
    response = await client.get("/admin")
    assert response.status_code == 200
    return await response.get_data(as_text=True)


async def press(client: QuartClient, action: str) -> str:
    """Submit the admin page's form for `action` (its URL), as the button does; the page after."""
    page = await admin_page(client)
    assert f'action="{action}"' in page, f"no button posts to {action}"
    response = await client.post(action, form={"csrf_token": csrf_from(page)})
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin"
    return await admin_page(client)


async def fresh(db_session: AsyncSession, model: type, row_id: int):
    await db_session.rollback()
    return await db_session.scalar(
        select(model).where(model.id == row_id).execution_options(populate_existing=True)
    )


async def audit_actions(db_session: AsyncSession) -> list[tuple[str, int | None, str]]:
    await db_session.rollback()
    rows = await db_session.execute(
        select(AuditEntry.action, AuditEntry.actor_id, AuditEntry.target).order_by(AuditEntry.id)
    )
    return [tuple(row) for row in rows]


async def test_deactivating_signs_the_user_out_and_stops_their_tokens(
    app: Quart, admin_client: QuartClient, db_session: AsyncSession
) -> None:
    agent = await make_user(db_session, email="agent@example.com")
    token = await make_token(db_session, user=agent)
    await db_session.commit()
    agent_id = agent.id
    browser = app.test_client()
    assert (await sign_in(browser, email="agent@example.com")).status_code == 302

    page = await press(admin_client, f"/admin/users/{agent_id}/deactivate")

    assert "Deactivated agent@example.com: 1 session(s) signed out, 1 API token(s) revoked." in page
    assert (await browser.get("/api/me")).status_code == 401
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await app.test_client().get("/api/me", headers=bearer)).status_code == 401
    assert not (await fresh(db_session, User, agent_id)).is_active
    assert ("user.deactivated", 1, f"user:{agent_id}") in await audit_actions(db_session)

    page = await press(admin_client, f"/admin/users/{agent_id}/activate")
    assert "Activated agent@example.com." in page
    assert (await fresh(db_session, User, agent_id)).is_active
    assert ("user.activated", 1, f"user:{agent_id}") in await audit_actions(db_session)


async def test_unlocking_ends_a_lockout(
    admin_client: QuartClient, db_session: AsyncSession
) -> None:
    locked = await make_user(db_session, locked_until=utcnow() + dt.timedelta(minutes=10))
    await db_session.commit()
    locked_id = locked.id
    assert "for new browsers" in await admin_page(admin_client)

    page = await press(admin_client, f"/admin/users/{locked_id}/unlock")

    assert "Unlocked" in page
    assert (await fresh(db_session, User, locked_id)).locked_until is None
    assert ("user.unlocked", 1, f"user:{locked_id}") in await audit_actions(db_session)
    assert f"/admin/users/{locked_id}/unlock" not in page, "no Unlock button once open"


async def test_revoking_a_token_stops_it_at_once(
    app: Quart, admin_client: QuartClient, db_session: AsyncSession
) -> None:
    agent = await make_user(db_session)
    token = await make_token(db_session, user=agent, name="reports script")
    kept = await make_token(db_session, user=agent, name="other script")
    await db_session.commit()
    agent_id = agent.id
    row = await db_session.scalar(select(ApiToken).where(ApiToken.prefix == token[:10]))
    assert row is not None
    token_id = row.id

    page = await press(admin_client, f"/admin/tokens/{token_id}/revoke")

    assert f"Revoked API token {token[:10]}." in page
    assert f"/admin/tokens/{token_id}/revoke" not in page, "no longer listed"
    assert kept[:10] in page
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await app.test_client().get("/api/me", headers=bearer)).status_code == 401
    other = {"Authorization": f"Bearer {kept}"}
    assert (await app.test_client().get("/api/me", headers=other)).status_code == 200
    assert (await fresh(db_session, ApiToken, token_id)).revoked_at is not None
    assert ("token.revoked", 1, f"user:{agent_id}") in await audit_actions(db_session)


async def test_an_admin_cannot_deactivate_themselves(
    admin_client: QuartClient, db_session: AsyncSession
) -> None:
    page = await admin_page(admin_client)
    assert "/admin/users/1/deactivate" not in page, "no button for one's own account"

    response = await admin_client.post(
        "/admin/users/1/deactivate", form={"csrf_token": csrf_from(page)}
    )

    assert response.status_code == 303
    assert "you cannot deactivate your own account" in await admin_page(admin_client)
    assert (await fresh(db_session, User, 1)).is_active


async def test_the_buttons_need_the_forms_csrf_token(
    admin_client: QuartClient, db_session: AsyncSession
) -> None:
    agent = await make_user(db_session)
    await db_session.commit()
    agent_id = agent.id

    for form in ({}, {"csrf_token": "forged"}):
        response = await admin_client.post(f"/admin/users/{agent_id}/deactivate", form=form)
        assert response.status_code == 403

    assert (await fresh(db_session, User, agent_id)).is_active


@pytest.mark.backends("sqlite")  # who may press the buttons does not depend on the database
async def test_only_admins_may_press_them(client: QuartClient, db_session: AsyncSession) -> None:
    agent = await make_user(db_session)
    supervisor = await make_user(db_session, role=Role.supervisor)
    await db_session.commit()
    agent_id = agent.id

    signed_out = await client.post(f"/admin/users/{agent_id}/deactivate", form={})
    assert signed_out.status_code in (302, 403)  # CSRF refuses before the login redirect
    await sign_in(client, email=supervisor.email)
    home = await (await client.get("/")).get_data(as_text=True)
    refused = await client.post(
        f"/admin/users/{agent_id}/deactivate", form={"csrf_token": csrf_from(home)}
    )
    assert refused.status_code == 403
    assert (await fresh(db_session, User, agent_id)).is_active


async def test_unknown_users_and_tokens_are_404(admin_client: QuartClient) -> None:
    csrf = csrf_from(await admin_page(admin_client))
    beyond = 2**63  # wider than any id column: never reaches SQL
    for action in ("/admin/users/999/deactivate", "/admin/tokens/999/revoke",
                   f"/admin/users/{beyond}/unlock", f"/admin/tokens/{beyond}/revoke"):
        response = await admin_client.post(action, form={"csrf_token": csrf})
        assert response.status_code == 404


@pytest.mark.backends("sqlite")
async def test_every_button_names_what_it_acts_on(
    admin_client: QuartClient, db_session: AsyncSession
) -> None:
    """Screen readers hear "Deactivate agent@example.com", not a row of bare "Deactivate"s."""
    agent = await make_user(db_session, email="agent@example.com")
    await make_token(db_session, user=agent)
    await db_session.commit()

    page = await admin_page(admin_client)

    buttons = re.findall(r"<button[^>]*>(.*?)</button>", page, re.DOTALL)
    names = [re.sub(r"<[^>]+>", "", button).strip() for button in buttons]
    assert "Deactivate agent@example.com" in names
    assert any(name.startswith("Revoke token cc_") for name in names)

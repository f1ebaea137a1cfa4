"""Login sessions: started at sign-in, read on every request, ended from the server's side.

The cookie is signed, but a signature alone cannot be taken back: the row it names can.
Reading the user is one query (the session joined to its user); the last request's time is
written at most once a minute, so a busy page costs no write per request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.accounts.models import LoginSession, User
from callcenter.db import utcnow

TOUCH_EVERY = dt.timedelta(seconds=60)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def start(
    session: AsyncSession, *, user: User, client_address: str, user_agent: str
) -> str:
    """Open a session for `user` and return its key, for the cookie (never stored as is)."""
    key = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        LoginSession(
            user_id=user.id,
            key_hash=_digest(key),
            created_at=now,
            last_seen_at=now,
            client_address=client_address[:64],
            user_agent=user_agent[:300],
        )
    )
    await session.flush()
    return key


async def user_for_key(
    session: AsyncSession, *, key: str, idle: dt.timedelta, max_age: dt.timedelta
) -> User | None:
    """The active user of a live session: not revoked, not idle too long, not too old."""
    now = utcnow()
    row = (
        await session.execute(
            select(User, LoginSession)
            .join(LoginSession, LoginSession.user_id == User.id)
            .where(
                LoginSession.key_hash == _digest(key),
                LoginSession.revoked_at.is_(None),
                LoginSession.last_seen_at > now - idle,
                LoginSession.created_at > now - max_age,
                User.is_active.is_(True),
            )
        )
    ).first()
    if row is None:
        return None
    user, login_session = row
    if login_session.last_seen_at < now - TOUCH_EVERY:
        login_session.last_seen_at = now
    return user


async def revoke(session: AsyncSession, *, key: str) -> None:
    """End one session (signing out)."""
    await session.execute(
        update(LoginSession)
        .where(LoginSession.key_hash == _digest(key), LoginSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def revoke_all(session: AsyncSession, *, user_id: int) -> int:
    """End every session of a user (new password, deactivation); how many were live."""
    result = await session.execute(
        update(LoginSession)
        .where(LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return result.rowcount or 0


async def purge_ended(session: AsyncSession, *, user_id: int, max_age: dt.timedelta) -> None:
    """Delete a user's sessions older than the longest a session lasts; run at each sign-in,
    so the table holds one row per sign-in of the last `max_age` (when and from where)."""
    await session.execute(
        delete(LoginSession).where(
            LoginSession.user_id == user_id, LoginSession.created_at <= utcnow() - max_age
        )
    )

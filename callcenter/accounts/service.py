"""Users, their passwords and API tokens: what the CLI, the login page and the API call."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.accounts import passwords
from callcenter.accounts.models import ApiToken, Role, User
from callcenter.audit import service as audit
from callcenter.db import utcnow

TOKEN_PREFIX = "cc_"


class AccountError(ValueError):
    """A request about accounts that cannot be carried out; the message says why."""


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    locked_until: dt.datetime | None = None


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        raise AccountError(f"{email!r} is not an email address")
    return email


async def get_by_email(session: AsyncSession, *, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email.strip().lower()))


async def get(session: AsyncSession, *, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    role: Role,
    password: str | None,
    name: str = "",
    actor_id: int | None = None,
) -> User:
    """Add a user; refuses a duplicate email or a weak password, and records it in the audit."""
    email = normalise_email(email)
    if await get_by_email(session, email=email) is not None:
        raise AccountError(f"a user with email {email} already exists")
    if password is not None and (why := passwords.weakness(password)):
        raise AccountError(why)
    user = User(
        email=email,
        role=role,
        name=name,
        password_hash=passwords.hash_password(password) if password is not None else None,
    )
    session.add(user)
    await session.flush()
    await audit.record(
        session, action="user.created", actor_id=actor_id, target=f"user:{user.id}",
        details={"email": email, "role": role.value},
    )
    return user


async def authenticate(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    max_failures: int,
    lockout: dt.timedelta,
) -> LoginResult:
    """Check a password, counting failures; too many lock the account for a while.

    A locked account is refused even with the right password, so guessing cannot continue.
    """
    user = await get_by_email(session, email=email)
    now = utcnow()
    if user is not None and user.locked_until is not None and user.locked_until > now:
        passwords.verify_password(None, password)
        return LoginResult(user=None, locked_until=user.locked_until)
    if not passwords.verify_password(user.password_hash if user else None, password):
        if user is not None:
            user.failed_logins += 1
            if user.failed_logins >= max_failures:
                user.locked_until = now + lockout
                user.failed_logins = 0
                await audit.record(
                    session, action="user.locked", actor_id=None, target=f"user:{user.id}"
                )
            await session.flush()
            return LoginResult(user=None, locked_until=user.locked_until)
        return LoginResult(user=None)
    assert user is not None
    if not user.is_active:
        return LoginResult(user=None)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if passwords.needs_rehash(user.password_hash or ""):
        user.password_hash = passwords.hash_password(password)
    await session.flush()
    return LoginResult(user=user)


def _digest(token: str) -> str:
    """Tokens are long and random, so a plain SHA-256 is enough and keeps each request cheap."""
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(
    session: AsyncSession, *, user: User, name: str = "", actor_id: int | None = None
) -> str:
    """Make an API token and return it; only its hash is stored, so this is its one showing."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(user_id=user.id, name=name, prefix=token[:10], token_hash=_digest(token))
    )
    await session.flush()
    await audit.record(
        session, action="token.created", actor_id=actor_id, target=f"user:{user.id}",
        details={"name": name, "prefix": token[:10]},
    )
    return token


async def user_for_token(session: AsyncSession, *, token: str) -> User | None:
    """The active user a bearer token belongs to, or None for an unknown or revoked token."""
    api_token = await session.scalar(
        select(ApiToken).where(ApiToken.token_hash == _digest(token), ApiToken.revoked_at.is_(None))
    )
    if api_token is None:
        return None
    user = await session.get(User, api_token.user_id)
    if user is None or not user.is_active:
        return None
    api_token.last_used_at = utcnow()
    return user


async def list_users(
    session: AsyncSession, *, offset: int, limit: int, role: Role | None = None
) -> tuple[list[User], int]:
    """A page of users by id, and how many there are in all."""
    query = select(User)
    if role is not None:
        query = query.where(User.role == role)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    users = await session.scalars(query.order_by(User.id).offset(offset).limit(limit))
    return list(users), total or 0

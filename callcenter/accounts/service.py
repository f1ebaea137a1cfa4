"""Users, their passwords and API tokens: what the CLI, the admin page and the API call.

Every change an admin makes is recorded in the audit log, in the same transaction.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.accounts import passwords, sessions
from callcenter.accounts.models import ApiToken, Role, User
from callcenter.audit import service as audit
from callcenter.db import utcnow

TOKEN_PREFIX = "cc_"
# Like a session's last request, a token's last use is written at most this often.
TOUCH_EVERY = sessions.TOUCH_EVERY


class AccountError(ValueError):
    """A request about accounts that cannot be carried out; the message says why."""


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        raise AccountError(f"{email!r} is not an email address")
    return email


async def get_by_email(session: AsyncSession, *, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email.strip().lower()))


async def get(session: AsyncSession, *, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def emails(session: AsyncSession, *, user_ids: set[int]) -> dict[int, str]:
    """These users' email addresses, by id (how pages name who did something)."""
    if not user_ids:
        return {}
    rows = await session.execute(select(User.id, User.email).where(User.id.in_(user_ids)))
    return {user_id: email for user_id, email in rows}


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


def _digest(token: str) -> str:
    """Tokens are long and random, so a plain SHA-256 is enough and keeps each request cheap."""
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(
    session: AsyncSession, *, user: User, name: str = "", actor_id: int | None = None
) -> str:
    """Make an API token and return it; only its hash is stored, so this is its one showing.

    Refused for a deactivated user: the token would not work, and would start working the
    day someone activates the account again.
    """
    if not user.is_active:
        raise AccountError(f"{user.email} is deactivated; activate the account first")
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
    """The active user a bearer token belongs to, or None for an unknown or revoked token.

    One query per request; the token's last use is written at most once a minute.
    """
    row = (
        await session.execute(
            select(User, ApiToken)
            .join(ApiToken, ApiToken.user_id == User.id)
            .where(
                ApiToken.token_hash == _digest(token),
                ApiToken.revoked_at.is_(None),
                User.is_active.is_(True),
            )
        )
    ).first()
    if row is None:
        return None
    user, api_token = row
    now = utcnow()
    if api_token.last_used_at is None or api_token.last_used_at < now - TOUCH_EVERY:
        api_token.last_used_at = now
    return user


async def active_tokens(session: AsyncSession, *, user_ids: list[int]) -> dict[int, list[ApiToken]]:
    """The unrevoked tokens of these users, oldest first, by user id."""
    found: dict[int, list[ApiToken]] = {user_id: [] for user_id in user_ids}
    tokens = await session.scalars(
        select(ApiToken)
        .where(ApiToken.user_id.in_(user_ids), ApiToken.revoked_at.is_(None))
        .order_by(ApiToken.id)
    )
    for token in tokens:
        found[token.user_id].append(token)
    return found


async def tokens_by_prefix(session: AsyncSession, *, prefix: str) -> list[ApiToken]:
    """Unrevoked tokens whose shown prefix is `prefix` (normally one)."""
    return list(
        await session.scalars(
            select(ApiToken).where(ApiToken.prefix == prefix, ApiToken.revoked_at.is_(None))
        )
    )


async def get_token(session: AsyncSession, *, token_id: int) -> ApiToken | None:
    return await session.get(ApiToken, token_id)


async def revoke_token(
    session: AsyncSession, *, token: ApiToken, actor_id: int | None = None
) -> None:
    """Stop a token working from its next request; revoking twice changes nothing."""
    if token.revoked_at is not None:
        return
    token.revoked_at = utcnow()
    await session.flush()
    await audit.record(
        session, action="token.revoked", actor_id=actor_id, target=f"user:{token.user_id}",
        details={"prefix": token.prefix, "name": token.name},
    )


async def set_password(
    session: AsyncSession, *, user: User, password: str, actor_id: int | None = None
) -> int:
    """Give a user a new password and sign out their browsers; how many sessions ended.

    Hashes on the calling thread: for the CLI. A web page would hash in the `HashPool`.
    """
    if why := passwords.weakness(password):
        raise AccountError(why)
    user.password_hash = passwords.hash_password(password)
    ended = await sessions.revoke_all(session, user_id=user.id)
    await session.flush()
    await audit.record(
        session, action="user.password_changed", actor_id=actor_id, target=f"user:{user.id}",
        details={"sessions_ended": ended},
    )
    return ended


async def deactivate(
    session: AsyncSession, *, user: User, actor_id: int | None = None
) -> tuple[int, int]:
    """Stop a user signing in: their sessions end and their API tokens are revoked (an
    activated account starts with no old credentials). How many sessions and tokens ended."""
    if actor_id is not None and actor_id == user.id:
        raise AccountError("you cannot deactivate your own account")
    user.is_active = False
    ended = await sessions.revoke_all(session, user_id=user.id)
    revoked = await session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    tokens = revoked.rowcount or 0
    await session.flush()
    await audit.record(
        session, action="user.deactivated", actor_id=actor_id, target=f"user:{user.id}",
        details={"sessions_ended": ended, "tokens_revoked": tokens},
    )
    return ended, tokens


async def activate(session: AsyncSession, *, user: User, actor_id: int | None = None) -> None:
    user.is_active = True
    await session.flush()
    await audit.record(
        session, action="user.activated", actor_id=actor_id, target=f"user:{user.id}"
    )


def is_locked(user: User) -> bool:
    """Whether browsers new to the account are refused right now."""
    return user.locked_until is not None and user.locked_until > utcnow()


async def unlock(session: AsyncSession, *, user: User, actor_id: int | None = None) -> None:
    """End a lockout now and forget the failures counted towards the next one."""
    user.locked_until = None
    user.failed_logins = 0
    await session.flush()
    await audit.record(
        session, action="user.unlocked", actor_id=actor_id, target=f"user:{user.id}"
    )


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


async def active_users(session: AsyncSession) -> list[User]:
    """Everyone who can sign in, by email: whom a ticket can be assigned to."""
    return list(await session.scalars(
        select(User).where(User.is_active).order_by(User.email)
    ))

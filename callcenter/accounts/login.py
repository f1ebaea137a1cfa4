"""Signing in, in the steps that keep a flood of guesses cheap and harmless.

1. Throttle by client address, by address and typed email (so an unknown email behaves
   exactly like a known one) and by device: refused before any work is done.
2. Read the account the email names, and end that transaction.
3. Check the password in the hash pool, with no transaction open: on SQLite a transaction
   holds the process's only connection, and every webhook would wait for the hash.
4. Settle in a new transaction: count a failure, lock, or sign in.

The per-account lock counts only attempts from devices that never signed in to the account
(see `devices`), so a stranger cannot lock its user out. Every refusal looks the same to
the client; the log says why.
"""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.accounts import passwords
from callcenter.accounts.devices import Device
from callcenter.accounts.models import User
from callcenter.accounts.throttle import Throttle, take_all
from callcenter.audit import service as audit
from callcenter.config import Settings
from callcenter.db import utcnow


class Refusal(enum.StrEnum):
    """Why a sign-in was refused: for the log only, never shown to the client."""

    throttled = "throttled"
    busy = "busy"
    unknown_email = "unknown_email"
    wrong_password = "wrong_password"
    locked = "locked"
    inactive = "inactive"


@dataclass(frozen=True)
class Candidate:
    """What the password check needs from the account an email names, read before hashing."""

    user_id: int | None
    password_hash: str | None


class LoginGuard:
    """The app's throttles and hash pool: one per app, shared by its requests."""

    def __init__(self, settings: Settings, *, hashes: passwords.HashPool | None = None) -> None:
        window = settings.login_throttle_seconds
        self.by_address = Throttle(capacity=settings.login_address_attempts, per_seconds=window)
        self.by_email = Throttle(
            capacity=settings.login_address_email_attempts, per_seconds=window
        )
        self.by_device = Throttle(
            capacity=settings.login_address_email_attempts, per_seconds=window
        )
        self.hashes = hashes or passwords.HashPool()

    def _keys(
        self, *, address: str, email: str, device: Device | None, trusted: bool = False
    ) -> list[tuple[Throttle, str]]:
        """The budgets an attempt pays from. A browser the account already trusts pays only
        its own: guesses from others at the same address (an office, a proxy) cannot keep
        the user out, and a copied cookie still brings no more than a device's budget."""
        network = _network(address)
        keys = [] if trusted else [
            (self.by_address, network), (self.by_email, f"{network} {email.lower()}")
        ]
        if device is not None:
            keys.append((self.by_device, device.nonce))
        return keys

    def attempt(
        self, *, address: str, email: str, device: Device | None, trusted: bool = False
    ) -> int:
        """Count an attempt before it is checked: 0, or the seconds to wait when over budget."""
        return take_all(self._keys(address=address, email=email, device=device, trusted=trusted))

    async def close(self) -> None:
        self.hashes.close()

    def succeeded(
        self, *, address: str, email: str, device: Device | None, trusted: bool = False
    ) -> None:
        """A sign-in is no guess: give its attempt back, and clear the email's count."""
        keys = self._keys(address=address, email=email, device=device, trusted=trusted)
        for throttle, key in keys:
            if throttle is self.by_address:
                throttle.give_back(key)
            else:
                throttle.forget(key)


def _network(address: str) -> str:
    """What one client can hold: an IPv4 address, or an IPv6 /64 (one customer's usual
    share, so a network's billions of addresses count as one)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return address


async def find_candidate(session: AsyncSession, *, email: str) -> Candidate:
    row = (
        await session.execute(
            select(User.id, User.password_hash).where(User.email == email.strip().lower())
        )
    ).first()
    if row is None:
        return Candidate(user_id=None, password_hash=None)
    return Candidate(user_id=row.id, password_hash=row.password_hash)


async def settle(
    session: AsyncSession,
    *,
    candidate: Candidate,
    matched: bool,
    trusted: bool,
    new_hash: str | None,
    max_failures: int,
    lockout: dt.timedelta,
) -> tuple[User | None, Refusal | None]:
    """Apply a checked password to the account: the user signed in, or why not.

    The row is read again, locked, so that parallel failures all count; a lock whose time
    is up is cleared first, so the next attempt starts afresh.
    """
    if candidate.user_id is None:
        return None, Refusal.unknown_email
    user = await session.scalar(
        select(User).where(User.id == candidate.user_id).with_for_update()
    )
    if user is None:
        return None, Refusal.unknown_email
    now = utcnow()
    if user.locked_until is not None and user.locked_until <= now:
        user.locked_until = None
    if user.password_hash != candidate.password_hash:
        # The password changed while this one was being checked: it proves nothing now.
        matched, trusted = False, False
    if user.locked_until is not None and not trusted:
        return None, Refusal.locked
    if not matched:
        if not trusted:
            await _count_failure(session, user=user, max_failures=max_failures, until=now + lockout)
        return None, Refusal.wrong_password
    if not user.is_active:
        return None, Refusal.inactive
    if user.locked_until is None:
        user.failed_logins = 0
    user.last_login_at = now
    if new_hash is not None and user.password_hash == candidate.password_hash:
        user.password_hash = new_hash
    await session.flush()
    return user, None


async def _count_failure(
    session: AsyncSession, *, user: User, max_failures: int, until: dt.datetime
) -> None:
    user.failed_logins += 1
    if user.failed_logins >= max_failures:
        user.locked_until = until
        user.failed_logins = 0
        await audit.record(session, action="user.locked", actor_id=None, target=f"user:{user.id}")
    await session.flush()

"""Password hashing with argon2id; parameters come from argon2-cffi's current defaults."""

from __future__ import annotations

import asyncio
import os

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified against when the email is unknown, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a real password")

MIN_LENGTH = 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; always does the full amount of work."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def weakness(password: str) -> str | None:
    """Why a new password is refused, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"the password must be at least {MIN_LENGTH} characters long"
    return None


def default_pool_size() -> int:
    """The cores this process may use, less one left to the event loop (at least one).

    One argon2 check takes ~0.1 s and, with its four lanes, more than one core.
    """
    return max(1, len(os.sched_getaffinity(0)) - 1)


class HashPool:
    """argon2 in worker threads, `size` checks at once, for the web app.

    On the event loop each check would stall every other request (webhooks included) for
    its whole duration; argon2-cffi releases the GIL, so threads do run it in parallel. The
    semaphore bounds the CPU and memory (64 MiB a check) a login flood can take.
    """

    def __init__(self, size: int | None = None) -> None:
        self.size = size or default_pool_size()
        self._slots = asyncio.Semaphore(self.size)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        async with self._slots:
            return await asyncio.to_thread(verify_password, password_hash, password)

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(hash_password, password)

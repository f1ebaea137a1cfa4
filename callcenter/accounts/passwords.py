"""Password hashing with argon2id; parameters come from argon2-cffi's current defaults."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

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
    """argon2 in `size` worker threads of its own, for the web app.

    On the event loop each check would stall every other request (webhooks included) for
    its whole duration; argon2-cffi releases the GIL, so the threads do run in parallel.
    The workers bound the CPU and memory (64 MiB a check) a login flood can take. They are
    the bound, rather than a semaphore around a shared pool, because a thread cannot be
    stopped: a semaphore released when a client hangs up would let one more check start
    beside the one still running. Checks still waiting when their client hangs up are
    dropped unrun.
    """

    def __init__(self, size: int | None = None) -> None:
        self.size = size or default_pool_size()
        self._threads = ThreadPoolExecutor(max_workers=self.size, thread_name_prefix="argon2")

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return await asyncio.get_running_loop().run_in_executor(
            self._threads, verify_password, password_hash, password
        )

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(
            self._threads, hash_password, password
        )

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)

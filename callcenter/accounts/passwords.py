"""Password hashing with argon2id; parameters come from argon2-cffi's current defaults."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified against when the email is unknown, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a real password")

MIN_LENGTH = 10
T = TypeVar("T")


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


class PoolBusy(Exception):
    """More password checks are waiting than are worth queueing: try again shortly."""


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

    def __init__(self, size: int | None = None, *, max_waiting: int = 32) -> None:
        self.size = size or default_pool_size()
        self.max_waiting = max_waiting
        self._threads = ThreadPoolExecutor(max_workers=self.size, thread_name_prefix="argon2")
        self._in_flight = 0

    async def _run(self, func: Callable[..., T], *args: Any) -> T:
        """Run `func` on a worker; refuse at once (PoolBusy) rather than queue without end:
        past `max_waiting` checks in line, each newcomer would only wait longer."""
        if self._in_flight >= self.size + self.max_waiting:
            raise PoolBusy
        self._in_flight += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._threads, func, *args)
        finally:
            self._in_flight -= 1

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return await self._run(verify_password, password_hash, password)

    async def hash(self, password: str) -> str:
        return await self._run(hash_password, password)

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)

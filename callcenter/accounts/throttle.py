"""How often one client may try to sign in: token buckets kept in the process's memory.

Kept in memory on purpose: a throttle that wrote to the database on every attempt would load
the very store a flood is aimed at, and its point is to refuse before the costly password
check. Each process keeps its own buckets, so several instances each allow the budget; the
per-account lock, in the database, is shared.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class Throttle:
    """`capacity` attempts per key, given back at `capacity` per `per_seconds`.

    Attempts are taken before the work they pay for, so a burst of parallel requests cannot
    all slip through before the first one is counted. The least recently used keys are
    dropped beyond `max_keys`, which bounds the memory a stream of new keys can take.
    """

    def __init__(
        self,
        *,
        capacity: int,
        per_seconds: float,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = capacity
        self.rate = capacity / per_seconds
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def _bucket(self, key: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(tokens=self.capacity, updated=now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        return bucket

    def wait(self, key: str) -> int:
        """Seconds until `key` may try again (0: it may now)."""
        bucket = self._bucket(key)
        return 0 if bucket.tokens >= 1 else math.ceil((1 - bucket.tokens) / self.rate)

    def take(self, key: str) -> None:
        self._bucket(key).tokens -= 1

    def give_back(self, key: str) -> None:
        bucket = self._bucket(key)
        bucket.tokens = min(self.capacity, bucket.tokens + 1)

    def forget(self, key: str) -> None:
        self._buckets.pop(key, None)


def take_all(throttles: Sequence[tuple[Throttle, str]]) -> int:
    """Take an attempt from every (throttle, key), or from none: the longest wait, 0 if taken."""
    longest = max((throttle.wait(key) for throttle, key in throttles), default=0)
    if longest == 0:
        for throttle, key in throttles:
            throttle.take(key)
    return longest

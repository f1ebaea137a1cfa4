"""The background worker: a huey consumer over SQLite (embedded) or Redis (several machines).

Why huey: it has both an embedded backend that needs no server (SQLite, matching our default
store) and a Redis backend for scale-out, periodic tasks, retries and a small footprint.
Tasks are registered on the instance built from settings, so nothing reads config at import.
"""

from __future__ import annotations

from huey import Huey, RedisHuey, SqliteHuey

from callcenter.config import Settings


def build_huey(settings: Settings) -> Huey:
    if settings.worker_backend == "redis":
        return RedisHuey("callcenter", url=settings.redis_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("callcenter", filename=str(settings.data_dir / "worker-queue.db"))

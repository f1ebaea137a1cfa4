"""INSERT ... ON CONFLICT DO NOTHING for either backend.

Hot webhook paths create rows that a retry, or another instance, may be creating at the
same moment. One conflict-tolerant INSERT costs one round trip, where a SELECT then a
guarded INSERT (in a savepoint) costs four; both SQLite (3.35+) and PostgreSQL support it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_ignoring_conflicts(session: AsyncSession, model: type[Any], **values: Any) -> Any:
    """An INSERT of `values` into `model`'s table that does nothing on a unique conflict."""
    dialect = sqlite if session.bind.dialect.name == "sqlite" else postgresql  # type: ignore[union-attr]
    return dialect.insert(model).values(**values).on_conflict_do_nothing()

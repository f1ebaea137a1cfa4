"""Writing to the audit log; every domain records its sensitive changes through here."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.audit.models import AuditEntry


async def record(
    session: AsyncSession,
    *,
    action: str,
    actor_id: int | None,
    target: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an entry in the caller's transaction, so the log and the change land together."""
    entry = AuditEntry(action=action, actor_id=actor_id, target=target, details=details or {})
    session.add(entry)
    await session.flush()
    return entry

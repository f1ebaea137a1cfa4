"""Each test starts from an empty database whose ids start at 1, on both backends.

The two tests run in this order; the second would see the first's rows if the database
fixture did not empty every table and restart every id sequence in between.
"""

from __future__ import annotations

from builders import make_token, make_user
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter import models
from callcenter.accounts.models import Role


async def _row_counts(session: AsyncSession) -> dict[str, int]:
    return {
        name: await session.scalar(select(func.count()).select_from(table)) or 0
        for name, table in models.Base.metadata.tables.items()
    }


async def test_first_writes_rows(db_session: AsyncSession) -> None:
    assert set((await _row_counts(db_session)).values()) == {0}
    admin = await make_user(db_session, role=Role.admin, email="first@example.com")
    for _ in range(3):
        await make_token(db_session, user=await make_user(db_session))
    await db_session.commit()
    assert admin.id == 1


async def test_second_starts_empty_with_ids_from_one(db_session: AsyncSession) -> None:
    assert set((await _row_counts(db_session)).values()) == {0}
    user = await make_user(db_session, email="first@example.com")
    await make_token(db_session, user=user)
    await db_session.commit()
    assert user.id == 1

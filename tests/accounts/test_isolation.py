"""Each test starts from the database the migrations leave, on both backends: empty but
for the rows they ship (the SLA policy, the shipped trigger and macros), ids from 1.

The two tests run in this order; the second would see the first's rows (or miss the
shipped ones it removed) if the database fixture did not put every table back and
restart every id sequence in between.
"""

from __future__ import annotations

from builders import make_token, make_user
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter import models
from callcenter.accounts.models import Role
from callcenter.tickets.models import Macro, TicketGroup, Trigger

SHIPPED = {"desk_settings": 1, "sla_policy": 4, "ticket_group": 2, "ticket_trigger": 1,
           "ticket_macro": 2}


async def _row_counts(session: AsyncSession) -> dict[str, int]:
    return {
        name: await session.scalar(select(func.count()).select_from(table)) or 0
        for name, table in models.Base.metadata.tables.items()
    }


def _as_shipped(counts: dict[str, int]) -> bool:
    return all(counts[name] == SHIPPED.get(name, 0) for name in counts)


async def test_first_writes_rows(db_session: AsyncSession) -> None:
    assert _as_shipped(await _row_counts(db_session))
    admin = await make_user(db_session, role=Role.admin, email="first@example.com")
    for _ in range(3):
        await make_token(db_session, user=await make_user(db_session))
    await db_session.execute(delete(Trigger))
    db_session.add(Macro(name="one more", body="hi", actions=[]))
    db_session.add(TicketGroup(name="Billing"))
    await db_session.commit()
    assert admin.id == 1


async def test_second_starts_empty_with_ids_from_one(db_session: AsyncSession) -> None:
    assert _as_shipped(await _row_counts(db_session))
    user = await make_user(db_session, email="first@example.com")
    await make_token(db_session, user=user)
    group = TicketGroup(name="Billing")
    db_session.add(group)
    await db_session.commit()
    assert user.id == 1
    assert group.id == SHIPPED["ticket_group"] + 1

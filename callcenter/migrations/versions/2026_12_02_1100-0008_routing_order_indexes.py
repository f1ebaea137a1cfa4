"""Indexes the routing decision walks in each strategy's order, queue_member's
last_offered_at never empty (members never offered anything sort first as 2000-01-01), and
an index on a queue's finished tasks for the estimated wait

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 11:00:00
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEVER = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
AGENT_ORDERS = {
    "ix_agent_wrapup": ["activity", "routing_state", "wrapup_until"],
    "ix_agent_calls": ["activity", "routing_state", "stats_day", "calls_today", "idle_since"],
    "ix_agent_talk": ["activity", "routing_state", "stats_day", "talk_seconds_today",
                      "idle_since"],
}


def upgrade() -> None:
    member = sa.table("queue_member", sa.column("last_offered_at", sa.DateTime(timezone=True)))
    op.execute(
        member.update().where(member.c.last_offered_at.is_(None)).values(last_offered_at=NEVER)
    )
    with op.batch_alter_table("queue_member") as batch:
        batch.alter_column(
            "last_offered_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )
        batch.create_index(
            "ix_queue_member_offered", ["queue_id", "last_offered_at", "agent_id"]
        )
    with op.batch_alter_table("agent") as batch:
        batch.drop_index("ix_agent_free")
        batch.create_index("ix_agent_free", ["activity", "routing_state", "idle_since", "id"])
        for name, columns in AGENT_ORDERS.items():
            batch.create_index(name, columns)
    op.drop_index("ix_task_waiting", table_name="task")
    op.create_index(
        "ix_task_waiting", "task",
        ["status", "queue_id", sa.text("priority DESC"), "entered_at", "id"],
    )
    op.create_index("ix_task_handled", "task", ["queue_id", "status", "completed_at"])


def downgrade() -> None:
    op.drop_index("ix_task_handled", table_name="task")
    op.drop_index("ix_task_waiting", table_name="task")
    op.create_index("ix_task_waiting", "task", ["status", "queue_id", "priority", "entered_at"])
    with op.batch_alter_table("agent") as batch:
        for name in AGENT_ORDERS:
            batch.drop_index(name)
        batch.drop_index("ix_agent_free")
        batch.create_index("ix_agent_free", ["activity", "routing_state", "idle_since"])
    with op.batch_alter_table("queue_member") as batch:
        batch.drop_index("ix_queue_member_offered")
        batch.alter_column(
            "last_offered_at", existing_type=sa.DateTime(timezone=True), nullable=True
        )

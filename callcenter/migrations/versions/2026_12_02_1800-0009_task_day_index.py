"""An index on tasks by channel and entry time: the live board's figures for today read
one day's tasks, not the whole history

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 18:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_task_day", "task", ["channel", "entered_at"])


def downgrade() -> None:
    op.drop_index("ix_task_day", table_name="task")

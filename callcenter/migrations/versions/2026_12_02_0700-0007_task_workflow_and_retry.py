"""task.workflow_id (the workflow a task follows) and task.available_at (a callback's next
attempt is not offered before then)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("task") as batch:
        batch.add_column(sa.Column("workflow_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("available_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key(
            "fk_task_workflow_id_workflow", "workflow", ["workflow_id"], ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("task") as batch:
        batch.drop_constraint("fk_task_workflow_id_workflow", type_="foreignkey")
        batch.drop_column("available_at")
        batch.drop_column("workflow_id")

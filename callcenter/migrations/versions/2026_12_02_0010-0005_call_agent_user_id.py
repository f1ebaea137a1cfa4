"""call.agent_id becomes call.agent_user_id: one column name, one meaning

`agent_id` elsewhere (reservation) points at an agent's row; a call's pointed at the user
who answered. Renamed with its foreign key.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 00:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rename(old: str, new: str) -> None:
    # Two steps: SQLite's batch mode rebuilds the table, and the new key must name the
    # column by its new name.
    with op.batch_alter_table("call") as batch:
        batch.drop_constraint(f"fk_call_{old}_user", type_="foreignkey")
        batch.alter_column(
            old, new_column_name=new, existing_type=sa.Integer(), existing_nullable=True
        )
    with op.batch_alter_table("call") as batch:
        batch.create_foreign_key(f"fk_call_{new}_user", "user", [new], ["id"], ondelete="SET NULL")


def upgrade() -> None:
    _rename("agent_id", "agent_user_id")


def downgrade() -> None:
    _rename("agent_user_id", "agent_id")

"""webhook field lengths: a call's From and To hold any address Twilio sends (SIP URIs too)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 22:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _resize(old: int, new: int) -> None:
    with op.batch_alter_table("call") as batch:
        for column in ("from_number", "to_number"):
            batch.alter_column(
                column, existing_type=sa.String(length=old), type_=sa.String(length=new),
                existing_nullable=False,
            )


def upgrade() -> None:
    _resize(64, 255)


def downgrade() -> None:
    _resize(255, 64)

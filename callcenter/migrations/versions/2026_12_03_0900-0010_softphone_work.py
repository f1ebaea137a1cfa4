"""The softphone's work: hold times on offers, the dispositions admins keep for wrap-up,
and a requester's tickets by last update (the offer card's last five tickets)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reservation") as table:
        table.add_column(sa.Column("held_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("hold_seconds", sa.Integer(), nullable=False,
                                   server_default="0"))
    op.create_table(
        "disposition",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disposition")),
        sa.UniqueConstraint("name", name=op.f("uq_disposition_name")),
    )
    op.create_index("ix_ticket_requester_updated", "ticket", ["requester_id", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_ticket_requester_updated", table_name="ticket")
    op.drop_table("disposition")
    with op.batch_alter_table("reservation") as table:
        table.drop_column("hold_seconds")
        table.drop_column("held_at")

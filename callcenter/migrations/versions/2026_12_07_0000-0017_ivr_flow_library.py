"""IVR: flows as versioned data, numbers routed to flows, calls pinned to a version

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import callcenter.db

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = callcenter.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ivr_flow",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("draft", sa.JSON(), nullable=False),
        sa.Column("draft_updated_at", _TIME, nullable=False),
        sa.Column("draft_updated_by", sa.Integer(), nullable=True),
        sa.Column("published_version_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["draft_updated_by"], ["user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "ivr_flow_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flow_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("published_by", sa.Integer(), nullable=True),
        sa.Column("published_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["flow_id"], ["ivr_flow.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["published_by"], ["user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("flow_id", "number"),
    )
    op.create_table(
        "ivr_number_route",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("flow_id", sa.Integer(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["flow_id"], ["ivr_flow.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
    )
    op.add_column("call", sa.Column("flow_version_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("call") as batch:
        batch.drop_column("flow_version_id")
    op.drop_table("ivr_number_route")
    op.drop_table("ivr_flow_version")
    op.drop_table("ivr_flow")

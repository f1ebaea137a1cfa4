"""Time tracking: entries (timer, calls, manual, corrections), the server-side timers, and
when an agent's wrap-up of an offer ended

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import callcenter.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = callcenter.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "time_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.Column("source", sa.Enum("timer", "call", "manual", "correction", name="timesource",
                                    native_enum=False, length=20), nullable=False),
        sa.Column("call_part", sa.String(10), nullable=True),
        sa.Column("call_id", sa.Integer(), nullable=True),
        sa.Column("worked_at", _TIME, nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("corrects_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("key", sa.String(80), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"],
                                name=op.f("fk_time_entry_ticket_id_ticket")),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_time_entry_user_id_user"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["call_id"], ["call.id"], name=op.f("fk_time_entry_call_id_call"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["corrects_id"], ["time_entry.id"],
                                name=op.f("fk_time_entry_corrects_id_time_entry")),
        sa.ForeignKeyConstraint(["created_by_id"], ["user.id"],
                                name=op.f("fk_time_entry_created_by_id_user"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_time_entry")),
        sa.UniqueConstraint("key", name=op.f("uq_time_entry_key")),
    )
    op.create_index(op.f("ix_time_entry_ticket_id"), "time_entry", ["ticket_id"])
    op.create_index(op.f("ix_time_entry_user_id"), "time_entry", ["user_id"])
    op.create_index(op.f("ix_time_entry_worked_at"), "time_entry", ["worked_at"])
    op.create_table(
        "ticket_timer",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("banked_seconds", sa.Integer(), nullable=False),
        sa.Column("running_since", _TIME, nullable=True),
        sa.Column("seen_at", _TIME, nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"],
                                name=op.f("fk_ticket_timer_ticket_id_ticket"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_ticket_timer_user_id_user"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("ticket_id", "user_id", name=op.f("pk_ticket_timer")),
    )
    with op.batch_alter_table("reservation") as table:
        table.add_column(sa.Column("wrapup_ended_at", _TIME, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reservation") as table:
        table.drop_column("wrapup_ended_at")
    op.drop_table("ticket_timer")
    op.drop_index(op.f("ix_time_entry_worked_at"), table_name="time_entry")
    op.drop_index(op.f("ix_time_entry_user_id"), table_name="time_entry")
    op.drop_index(op.f("ix_time_entry_ticket_id"), table_name="time_entry")
    op.drop_table("time_entry")

"""Email: every message in and out kept raw, attachments, group addresses, channel ids

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import callcenter.db

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = callcenter.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "mail",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.Enum("incoming", "outgoing", name="maildirection",
                                       native_enum=False, length=10), nullable=False),
        sa.Column("status", sa.Enum("received", "landed", "ignored", "refused", "unparsed",
                                    "queued", "sent", "failed", name="mailstatus",
                                    native_enum=False, length=20), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("envelope_from", sa.String(320), nullable=False),
        sa.Column("envelope_to", sa.JSON(), nullable=False),
        sa.Column("message_id", sa.String(300), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("attempts", sa.JSON(), nullable=False),
        sa.Column("next_attempt_at", _TIME, nullable=True),
        sa.Column("processed_at", _TIME, nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["event_id"], ["ticket_event.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_mail_message_id", "mail", ["message_id"])
    op.create_index("ix_mail_ticket_id", "mail", ["ticket_id"])
    op.create_index("ix_mail_event_id", "mail", ["event_id"])
    op.create_index("ix_mail_due", "mail", ["status", "next_attempt_at"])
    op.create_table(
        "mail_attachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mail_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("content_id", sa.String(300), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["mail_id"], ["mail.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_mail_attachment_mail_id", "mail_attachment", ["mail_id"])
    with op.batch_alter_table("ticket_event") as batch:
        batch.add_column(sa.Column("external_id", sa.String(300), nullable=True))
        batch.create_index("ix_ticket_event_external", ["kind", "external_id"], unique=True)
    with op.batch_alter_table("ticket_group") as batch:
        batch.add_column(sa.Column("email", sa.String(320), nullable=True))
        batch.create_unique_constraint("uq_ticket_group_email", ["email"])


def downgrade() -> None:
    with op.batch_alter_table("ticket_group") as batch:
        batch.drop_constraint("uq_ticket_group_email", type_="unique")
        batch.drop_column("email")
    with op.batch_alter_table("ticket_event") as batch:
        batch.drop_index("ix_ticket_event_external")
        batch.drop_column("external_id")
    op.drop_index("ix_mail_attachment_mail_id", "mail_attachment")
    op.drop_table("mail_attachment")
    op.drop_table("mail")

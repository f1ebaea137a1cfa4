"""The ticket workspace: the desk's settings, groups, SLA targets and due times, triggers,
macros, merges of customers and tickets, and email/domain blocklist entries

Ships the SLA policy per priority, the groups the shipped macros use, the "shop is down"
trigger and two macros; admins change or retire them.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import callcenter.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = callcenter.db.UTCDateTime(timezone=True)
_PRIORITY = sa.Enum(
    "low", "normal", "high", "urgent", name="ticketpriority", native_enum=False, length=20
)
_HOURS = "mon-fri 09:00-17:00"
# priority: first reply, next reply, resolution (minutes of business hours)
_SLA = {"urgent": (30, 60, 480), "high": (60, 240, 960), "normal": (240, 480, 2400),
        "low": (480, 960, 4800)}
_OUTAGE_WORDS = ["shop is down", "store is down", "site is down", "site down", "website down",
                 "checkout is down", "can't take orders"]


def upgrade() -> None:
    op.create_table(
        "ticket_group",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_group")),
        sa.UniqueConstraint("name", name=op.f("uq_ticket_group_name")),
    )
    sla = op.create_table(
        "sla_policy",
        sa.Column("priority", _PRIORITY, nullable=False),
        sa.Column("first_reply_minutes", sa.Integer(), nullable=True),
        sa.Column("next_reply_minutes", sa.Integer(), nullable=True),
        sa.Column("resolution_minutes", sa.Integer(), nullable=True),
        sa.Column("hours", sa.String(300), nullable=False),
        sa.Column("zone", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("priority", name=op.f("pk_sla_policy")),
    )
    desk = op.create_table(
        "desk_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("thread_window_hours", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_settings")),
    )
    trigger = op.create_table(
        "ticket_trigger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("on_create", sa.Boolean(), nullable=False),
        sa.Column("on_update", sa.Boolean(), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_trigger")),
        sa.UniqueConstraint("name", name=op.f("uq_ticket_trigger_name")),
    )
    macro = op.create_table(
        "ticket_macro",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_macro")),
        sa.UniqueConstraint("name", name=op.f("uq_ticket_macro_name")),
    )
    with op.batch_alter_table("ticket") as table:
        table.add_column(sa.Column("group_id", sa.Integer(), nullable=True))
        for name in ("first_reply_due_at", "first_replied_at", "next_reply_due_at",
                     "resolution_due_at", "sla_due_at", "awaiting_since"):
            table.add_column(sa.Column(name, _TIME, nullable=True))
        table.add_column(sa.Column("merged_into_id", sa.Integer(), nullable=True))
        table.create_foreign_key(
            op.f("fk_ticket_group_id_ticket_group"), "ticket_group", ["group_id"], ["id"],
            ondelete="SET NULL",
        )
        table.create_foreign_key(
            op.f("fk_ticket_merged_into_id_ticket"), "ticket", ["merged_into_id"], ["id"]
        )
        table.create_index(op.f("ix_ticket_sla_due_at"), ["sla_due_at"])
        table.create_index(op.f("ix_ticket_assignee_id"), ["assignee_id"])
    with op.batch_alter_table("ticket_event") as table:
        table.drop_index("ix_ticket_event_ticket_id")
        table.create_index("ix_ticket_event_ticket_id_id", ["ticket_id", "id"])
    with op.batch_alter_table("customer") as table:
        table.add_column(sa.Column("merged_into_id", sa.Integer(), nullable=True))
        table.add_column(sa.Column("merged_at", _TIME, nullable=True))
        table.add_column(sa.Column("merged_by_id", sa.Integer(), nullable=True))
        table.create_foreign_key(
            op.f("fk_customer_merged_into_id_customer"), "customer", ["merged_into_id"], ["id"]
        )
        table.create_foreign_key(
            op.f("fk_customer_merged_by_id_user"), "user", ["merged_by_id"], ["id"],
            ondelete="SET NULL",
        )
        table.create_index(op.f("ix_customer_merged_into_id"), ["merged_into_id"])
    with op.batch_alter_table("blocklist_entry") as table:
        table.alter_column("value", existing_type=sa.String(64), type_=sa.String(320),
                           existing_nullable=False)

    now = sa.func.current_timestamp()
    op.bulk_insert(desk, [{"id": 1, "thread_window_hours": 168}])
    op.bulk_insert(sla, [
        {"priority": priority, "first_reply_minutes": first, "next_reply_minutes": after,
         "resolution_minutes": resolution, "hours": _HOURS, "zone": "UTC"}
        for priority, (first, after, resolution) in _SLA.items()
    ])
    groups = sa.table("ticket_group", sa.column("name", sa.String), sa.column("created_at", _TIME))
    op.execute(groups.insert().from_select(
        ["name", "created_at"],
        sa.select(sa.literal("Support"), now).union_all(sa.select(sa.literal("Tier 2"), now)),
    ))
    op.execute(trigger.insert().values(
        name="Outage: the shop is down", active=True, position=0, on_create=True,
        on_update=True, created_at=now,
        conditions={"any": [{"field": "text", "op": "contains", "value": word}
                            for word in _OUTAGE_WORDS]},
        actions=[{"set": "priority", "value": "urgent"}, {"add_tags": ["outage"]}],
    ))
    op.execute(macro.insert().values(
        name="Solved on the phone", active=True, created_at=now,
        body="Resolved with the customer on the call.",
        actions=[{"set": "status", "value": "solved"}],
    ))
    op.execute(macro.insert().values(
        name="Escalate to Tier 2", active=True, created_at=now,
        body="Escalated to Tier 2 for a closer look.",
        actions=[{"set": "group", "value": "Tier 2"}, {"set": "priority", "value": "high"},
                 {"add_tags": ["escalated"]}],
    ))


def downgrade() -> None:
    op.execute("DELETE FROM blocklist_entry WHERE kind IN ('email', 'domain')")
    with op.batch_alter_table("blocklist_entry") as table:
        table.alter_column("value", existing_type=sa.String(320), type_=sa.String(64),
                           existing_nullable=False)
    with op.batch_alter_table("customer") as table:
        table.drop_index(op.f("ix_customer_merged_into_id"))
        table.drop_constraint(op.f("fk_customer_merged_by_id_user"), type_="foreignkey")
        table.drop_constraint(op.f("fk_customer_merged_into_id_customer"), type_="foreignkey")
        for name in ("merged_by_id", "merged_at", "merged_into_id"):
            table.drop_column(name)
    with op.batch_alter_table("ticket_event") as table:
        table.drop_index("ix_ticket_event_ticket_id_id")
        table.create_index("ix_ticket_event_ticket_id", ["ticket_id"])
    op.execute("UPDATE ticket SET status = 'open' WHERE status = 'on_hold'")
    with op.batch_alter_table("ticket") as table:
        table.drop_index(op.f("ix_ticket_assignee_id"))
        table.drop_index(op.f("ix_ticket_sla_due_at"))
        table.drop_constraint(op.f("fk_ticket_merged_into_id_ticket"), type_="foreignkey")
        table.drop_constraint(op.f("fk_ticket_group_id_ticket_group"), type_="foreignkey")
        for name in ("merged_into_id", "awaiting_since", "sla_due_at", "resolution_due_at",
                     "next_reply_due_at", "first_replied_at", "first_reply_due_at", "group_id"):
            table.drop_column(name)
    op.drop_table("ticket_macro")
    op.drop_table("ticket_trigger")
    op.drop_table("desk_settings")
    op.drop_table("sla_policy")
    op.drop_table("ticket_group")

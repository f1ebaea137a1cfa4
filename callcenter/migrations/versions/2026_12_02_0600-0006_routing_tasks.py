"""Routing in TaskRouter terms: task queues, workflows, queue members, tasks, the agent
state log; reservations belong to tasks; the call's routing fields move to its task.

Existing data is carried over: each queue name calls used becomes a task queue open to
every agent, each queued call a task (completed if answered, canceled if it ended, else
pending), each reservation points at its call's task, and an agent's old activity splits
into the activity they chose and the routing state (reserved: available and ringing;
busy: available and on a call; away: a break).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime(timezone=True)


def _created() -> sa.Column:
    return sa.Column("created_at", UTC, nullable=False)


def upgrade() -> None:
    op.create_table(
        "task_queue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("expression", sa.Text(), nullable=False),
        sa.Column("strategy", sa.String(20), nullable=False),
        sa.Column("max_size", sa.Integer(), nullable=True),
        sa.Column("max_wait_seconds", sa.Integer(), nullable=True),
        sa.Column("overflow", sa.String(63), nullable=True),
        sa.Column("service_level_seconds", sa.Integer(), nullable=False),
        sa.Column("wrapup_seconds", sa.Integer(), nullable=False),
        _created(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_queue")),
        sa.UniqueConstraint("name", name=op.f("uq_task_queue_name")),
    )
    op.create_table(
        "workflow",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        _created(),
        sa.ForeignKeyConstraint(
            ["queue_id"], ["task_queue.id"], name=op.f("fk_workflow_queue_id_task_queue"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow")),
        sa.UniqueConstraint("queue_id", name=op.f("uq_workflow_queue_id")),
    )
    with op.batch_alter_table("agent") as batch:
        batch.drop_index("ix_agent_activity")
        batch.add_column(sa.Column("break_reason", sa.String(100), nullable=True))
        batch.add_column(
            sa.Column("routing_state", sa.String(20), nullable=False, server_default="idle")
        )
        batch.add_column(sa.Column("routing_state_changed_at", UTC, nullable=True))
        batch.add_column(sa.Column("wrapup_until", UTC, nullable=True))
        batch.add_column(sa.Column("skills", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("languages", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(
            sa.Column("capacity", sa.JSON(), nullable=False, server_default='{"voice": 1}')
        )
        batch.add_column(
            sa.Column("missed_offers", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("last_heartbeat_at", UTC, nullable=True))
        batch.add_column(sa.Column("stats_day", sa.Date(), nullable=True))
        batch.add_column(sa.Column("calls_today", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("talk_seconds_today", sa.Integer(), nullable=False, server_default="0")
        )
    op.execute(
        "UPDATE agent SET routing_state = CASE activity WHEN 'reserved' THEN 'ringing' "
        "WHEN 'busy' THEN 'on-call' ELSE 'idle' END, "
        "break_reason = CASE activity WHEN 'away' THEN 'away' END, "
        "activity = CASE activity WHEN 'reserved' THEN 'available' WHEN 'busy' THEN 'available' "
        "WHEN 'away' THEN 'break' ELSE activity END, "
        "routing_state_changed_at = activity_changed_at"
    )
    with op.batch_alter_table("agent") as batch:
        for column in ("routing_state", "skills", "languages", "capacity", "missed_offers",
                       "calls_today", "talk_seconds_today"):
            batch.alter_column(column, server_default=None)
        batch.alter_column("routing_state_changed_at", existing_type=UTC, nullable=False)
        batch.create_index("ix_agent_free", ["activity", "routing_state", "idle_since"])
    op.create_table(
        "queue_member",
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("last_offered_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agent.id"], name=op.f("fk_queue_member_agent_id_agent"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"], ["task_queue.id"], name=op.f("fk_queue_member_queue_id_task_queue"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("queue_id", "agent_id", name=op.f("pk_queue_member")),
    )
    op.create_index(op.f("ix_queue_member_agent_id"), "queue_member", ["agent_id"])
    op.create_table(
        "agent_state_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(100), nullable=True),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agent.id"], name=op.f("fk_agent_state_log_agent_id_agent"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_state_log")),
    )
    op.create_index("ix_agent_state_log_agent_at", "agent_state_log", ["agent_id", "at"])
    op.create_table(
        "task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=True),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("step_started_at", UTC, nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("entered_at", UTC, nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("twilio_queue_sid", sa.String(34), nullable=True),
        sa.Column("queue_result", sa.String(20), nullable=True),
        sa.Column("leaving", sa.String(20), nullable=True),
        sa.Column("reason", sa.String(30), nullable=True),
        sa.Column("wait_seconds", sa.Integer(), nullable=True),
        sa.Column("assigned_at", UTC, nullable=True),
        sa.Column("wrapup_started_at", UTC, nullable=True),
        sa.Column("wrapup_seconds", sa.Integer(), nullable=True),
        sa.Column("completed_at", UTC, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _created(),
        sa.ForeignKeyConstraint(
            ["call_id"], ["call.id"], name=op.f("fk_task_call_id_call"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"], ["task_queue.id"], name=op.f("fk_task_queue_id_task_queue"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["ticket.id"], name=op.f("fk_task_ticket_id_ticket"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task")),
    )
    op.create_index(op.f("ix_task_call_id"), "task", ["call_id"])
    op.create_index("ix_task_waiting", "task", ["status", "queue_id", "priority", "entered_at"])

    # The queues calls used, and a task for each queued call.
    op.execute(
        "INSERT INTO task_queue (name, description, expression, strategy, "
        "service_level_seconds, wrapup_seconds, created_at) "
        "SELECT DISTINCT queue, '', '1==1', 'longest-idle', 30, 0, MIN(created_at) "
        "FROM call WHERE queue IS NOT NULL GROUP BY queue"
    )
    op.execute(
        "INSERT INTO task (channel, status, queue_id, step, step_started_at, priority, "
        "entered_at, attributes, call_id, twilio_queue_sid, queue_result, reason, "
        "wait_seconds, wrapup_seconds, assigned_at, completed_at, attempts, created_at) "
        "SELECT 'voice', CASE WHEN c.connected_at IS NOT NULL THEN 'completed' "
        "WHEN c.ended_at IS NOT NULL THEN 'canceled' ELSE 'pending' END, q.id, 0, "
        "c.enqueued_at, 0, c.enqueued_at, '{}', c.id, c.queue_sid, c.queue_result, c.outcome, "
        "c.wait_seconds, c.wrapup_seconds, c.connected_at, c.ended_at, 0, c.enqueued_at "
        "FROM call c JOIN task_queue q ON q.name = c.queue WHERE c.enqueued_at IS NOT NULL"
    )
    op.execute(
        "INSERT INTO queue_member (queue_id, agent_id) "
        "SELECT task_queue.id, agent.id FROM task_queue, agent"
    )
    with op.batch_alter_table("reservation") as batch:
        batch.add_column(sa.Column("task_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("customer_call_sid", sa.String(34), nullable=True))
    op.execute(
        "UPDATE reservation SET task_id = "
        "(SELECT task.id FROM task WHERE task.call_id = reservation.call_id)"
    )
    op.execute("DELETE FROM reservation WHERE task_id IS NULL")
    with op.batch_alter_table("reservation") as batch:
        batch.drop_index("ix_reservation_call_id")
        batch.drop_index("ix_reservation_agent_id")
        batch.drop_constraint("fk_reservation_call_id_call", type_="foreignkey")
        batch.drop_column("call_id")
        batch.alter_column("task_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key(
            "fk_reservation_task_id_task", "task", ["task_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_index("ix_reservation_task_id", ["task_id"])
        batch.create_index("ix_reservation_customer_call_sid", ["customer_call_sid"])
        batch.create_index("ix_reservation_agent_status", ["agent_id", "status"])
    with op.batch_alter_table("call") as batch:
        batch.drop_index("ix_call_queue")
        for column in ("queue", "queue_sid", "queue_result", "enqueued_at", "wait_seconds",
                       "wrapup_seconds"):
            batch.drop_column(column)


def downgrade() -> None:
    with op.batch_alter_table("call") as batch:
        batch.add_column(sa.Column("queue", sa.String(100), nullable=True))
        batch.add_column(sa.Column("queue_sid", sa.String(34), nullable=True))
        batch.add_column(sa.Column("queue_result", sa.String(20), nullable=True))
        batch.add_column(sa.Column("enqueued_at", UTC, nullable=True))
        batch.add_column(sa.Column("wait_seconds", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("wrapup_seconds", sa.Integer(), nullable=True))
        batch.create_index("ix_call_queue", ["queue"])
    op.execute(
        "UPDATE call SET "
        "queue = (SELECT q.name FROM task t JOIN task_queue q ON q.id = t.queue_id "
        "WHERE t.call_id = call.id AND t.channel = 'voice'), "
        "queue_sid = (SELECT t.twilio_queue_sid FROM task t WHERE t.call_id = call.id "
        "AND t.channel = 'voice'), "
        "queue_result = (SELECT t.queue_result FROM task t WHERE t.call_id = call.id "
        "AND t.channel = 'voice'), "
        "enqueued_at = (SELECT t.entered_at FROM task t WHERE t.call_id = call.id "
        "AND t.channel = 'voice'), "
        "wait_seconds = (SELECT t.wait_seconds FROM task t WHERE t.call_id = call.id "
        "AND t.channel = 'voice'), "
        "wrapup_seconds = (SELECT t.wrapup_seconds FROM task t WHERE t.call_id = call.id "
        "AND t.channel = 'voice')"
    )
    with op.batch_alter_table("reservation") as batch:
        batch.add_column(sa.Column("call_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE reservation SET call_id = "
        "(SELECT task.call_id FROM task WHERE task.id = reservation.task_id)"
    )
    op.execute("DELETE FROM reservation WHERE call_id IS NULL")
    with op.batch_alter_table("reservation") as batch:
        batch.drop_index("ix_reservation_agent_status")
        batch.drop_index("ix_reservation_customer_call_sid")
        batch.drop_index("ix_reservation_task_id")
        batch.drop_constraint("fk_reservation_task_id_task", type_="foreignkey")
        batch.drop_column("task_id")
        batch.drop_column("customer_call_sid")
        batch.alter_column("call_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key(
            "fk_reservation_call_id_call", "call", ["call_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_index("ix_reservation_call_id", ["call_id"])
        batch.create_index("ix_reservation_agent_id", ["agent_id"])
    op.drop_index("ix_task_waiting", table_name="task")
    op.drop_index(op.f("ix_task_call_id"), table_name="task")
    op.drop_table("task")
    op.drop_index("ix_agent_state_log_agent_at", table_name="agent_state_log")
    op.drop_table("agent_state_log")
    op.drop_index(op.f("ix_queue_member_agent_id"), table_name="queue_member")
    op.drop_table("queue_member")
    op.execute(
        "UPDATE agent SET activity = CASE WHEN routing_state = 'ringing' THEN 'reserved' "
        "WHEN routing_state = 'on-call' THEN 'busy' "
        "WHEN activity = 'break' THEN 'away' ELSE activity END"
    )
    with op.batch_alter_table("agent") as batch:
        batch.drop_index("ix_agent_free")
        for column in ("break_reason", "routing_state", "routing_state_changed_at",
                       "wrapup_until", "skills", "languages", "capacity", "missed_offers",
                       "last_heartbeat_at", "stats_day", "calls_today", "talk_seconds_today"):
            batch.drop_column(column)
        batch.create_index("ix_agent_activity", ["activity"])
    op.drop_table("workflow")
    op.drop_table("task_queue")

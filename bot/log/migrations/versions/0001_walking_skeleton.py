"""The schema of deskbot 0.1 (the walking skeleton), as its create_all() made it.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the three tables of 0.1."""
    op.create_table(
        "ticket",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("ref", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("error", sa.String(), nullable=False),
        sa.Column("message_id", sa.String(), nullable=False),
        sa.Column("ack_message_id", sa.String(), nullable=False),
        sa.Column("sender", sa.String(), nullable=False),
        sa.Column("sender_name", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("language", sa.String(), nullable=False),
        sa.Column("body", sa.String(), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=True),
        sa.Column("model_version", sa.String(), nullable=False),
        sa.Column("predicted_department", sa.String(), nullable=False),
        sa.Column("predicted_priority", sa.String(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("department_scores", sa.String(), nullable=False),
        sa.Column("priority_scores", sa.String(), nullable=False),
        sa.Column("top_terms", sa.String(), nullable=False),
        sa.Column("department", sa.String(), nullable=False),
        sa.Column("priority", sa.String(), nullable=False),
        sa.Column("tags", sa.String(), nullable=False),
        sa.Column("group", sa.String(), nullable=True),
        sa.Column("folder", sa.String(), nullable=True),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("sla_hours", sa.Float(), nullable=True),
        sa.Column("sla_due", sa.DateTime(), nullable=True),
        sa.Column("ack_language", sa.String(), nullable=False),
        sa.Column("ack_template", sa.String(), nullable=True),
        sa.Column("ack_skip_reason", sa.String(), nullable=True),
        sa.Column("reasons", sa.String(), nullable=False),
    )
    op.create_index("ix_ticket_source", "ticket", ["source"])
    op.create_index("ix_ticket_message_id", "ticket", ["message_id"])
    op.create_index("ix_ticket_ack_message_id", "ticket", ["ack_message_id"])
    op.create_index("ux_ticket_source_key", "ticket", ["source", "key"], unique=True,
                    sqlite_where=sa.text("dry_run = 0"), postgresql_where=sa.text("dry_run = false"))
    op.create_table(
        "action",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("ticket.id"), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("detail", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_action_ticket_id", "action", ["ticket_id"])
    op.create_table(
        "cursor",
        sa.Column("source", sa.String(), primary_key=True),
        sa.Column("value", sa.String(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    """Drop everything."""
    op.drop_table("cursor")
    op.drop_table("action")
    op.drop_table("ticket")

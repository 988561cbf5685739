"""Learning from agents: corrections and confirmations, and the decisions of a shadow model.

Revision ID: 0005
Revises: 0003 (the lead re-chains this to 0004 when both are merged)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Two new tables; nothing existing changes."""
    op.create_table(
        "correction",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("ticket.id"), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("deskbot_department", sa.String(), nullable=False),
        sa.Column("deskbot_priority", sa.String(), nullable=False),
        sa.Column("team_department", sa.String(), nullable=False),
        sa.Column("team_priority", sa.String(), nullable=False),
        sa.Column("model_version", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_correction_ticket_id", "correction", ["ticket_id"])
    op.create_index("ix_correction_source", "correction", ["source"])
    op.create_index("ix_correction_at", "correction", ["at"])
    op.create_table(
        "shadow_decision",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("model_version", sa.String(), nullable=False),
        sa.Column("department", sa.String(), nullable=False),
        sa.Column("priority", sa.String(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("live_model_version", sa.String(), nullable=False),
        sa.Column("live_department", sa.String(), nullable=False),
        sa.Column("live_priority", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_shadow_decision_key", "shadow_decision", ["key"])


def downgrade() -> None:
    """Drop them again."""
    op.drop_table("shadow_decision")
    op.drop_table("correction")

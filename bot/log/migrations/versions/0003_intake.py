"""deskbot 0.2 intake: decision kinds, follow-ups, acknowledgement recipients, attachments, bounce suppression.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_COLUMNS = (
    sa.Column("kind", sa.String(), nullable=False, server_default="ticket"),
    sa.Column("follow_up_of", sa.Integer(), nullable=True),
    sa.Column("ack_to", sa.String(), nullable=False, server_default=""),
    sa.Column("attachments", sa.String(), nullable=False, server_default="[]"),
)


def upgrade() -> None:
    """Add the columns and the suppression table; 0.1 and 0.2 tickets are ordinary tickets."""
    for column in _COLUMNS:
        op.add_column("ticket", column)
    op.create_index("ix_ticket_ack_to", "ticket", ["ack_to"])
    op.execute("UPDATE ticket SET ack_to = lower(sender) WHERE ack_template IS NOT NULL")
    op.create_table(
        "suppression",
        sa.Column("address", sa.String(), primary_key=True),
        sa.Column("until", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
    )


def downgrade() -> None:
    """Drop them again."""
    op.drop_table("suppression")
    op.drop_index("ix_ticket_ack_to", "ticket")
    with op.batch_alter_table("ticket") as batch:
        for column in _COLUMNS:
            batch.drop_column(column.name)

"""deskbot 0.3 admin's day: the acknowledgement outbox, re-decided tickets, and a login refused with backoff.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TICKET = (
    sa.Column("retry_at", sa.DateTime(), nullable=True),  # not worked on again before this (outbox, backoff)
    sa.Column("earlier_decisions", sa.String(), nullable=False, server_default="[]"),  # replaced by `retry`
)
_ACTION = (
    sa.Column("refused_since", sa.DateTime(), nullable=True),  # first temporary refusal (SMTP 4xx)
)
_SOURCE = (
    sa.Column("auth_failures", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("auth_retry_at", sa.DateTime(), nullable=True),
)


def upgrade() -> None:
    """Add the columns, and an index to find the acknowledgements waiting in the outbox."""
    for table, columns in (("ticket", _TICKET), ("action", _ACTION), ("source_state", _SOURCE)):
        for column in columns:
            op.add_column(table, column)
    op.create_index("ix_action_state", "action", ["state"])


def downgrade() -> None:
    """Drop them again."""
    op.drop_index("ix_action_state", "action")
    for table, columns in (("ticket", _TICKET), ("action", _ACTION), ("source_state", _SOURCE)):
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.drop_column(column.name)

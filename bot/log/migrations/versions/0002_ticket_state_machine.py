"""deskbot 0.2: tickets keyed across sources, references from a sequence, in-flight actions, status.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TICKET_COLUMNS = (
    sa.Column("reference", sa.String(), nullable=True),
    sa.Column("updated_at", sa.DateTime(), nullable=True),
    sa.Column("pending", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("flagged", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("duplicate_of", sa.Integer(), nullable=True),
    sa.Column("reply_to", sa.String(), nullable=False, server_default=""),
    sa.Column("thread_refs", sa.String(), nullable=False, server_default="[]"),
    sa.Column("headers", sa.String(), nullable=False, server_default="[]"),
    sa.Column("meta", sa.String(), nullable=False, server_default="[]"),
)


def upgrade() -> None:
    """New columns and tables; 0.1's references (prefix + row id) are kept and the sequence starts above them."""
    for column in _TICKET_COLUMNS:
        op.add_column("ticket", column)
    op.add_column("action", sa.Column("marker", sa.String(), nullable=False, server_default=""))
    op.drop_index("ux_ticket_source_key", "ticket")
    op.create_index("ux_ticket_key", "ticket", ["key"], unique=True,
                    sqlite_where=sa.text("dry_run = 0 AND duplicate_of IS NULL"),
                    postgresql_where=sa.text("dry_run = false AND duplicate_of IS NULL"))
    op.create_index("ux_ticket_reference", "ticket", ["reference"], unique=True)
    op.create_index("ix_ticket_pending", "ticket", ["source", "pending"])
    op.create_index("ix_ticket_sender", "ticket", ["sender"])
    _create_tables()
    _carry_over_01()


def _create_tables() -> None:
    op.create_table("counter", sa.Column("name", sa.String(), primary_key=True),
                    sa.Column("value", sa.Integer(), nullable=False))
    op.create_table(
        "source_state",
        sa.Column("source", sa.String(), primary_key=True),
        sa.Column("last_poll_at", sa.DateTime(), nullable=True),
        sa.Column("last_success_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.String(), nullable=False),
        sa.Column("last_error_at", sa.DateTime(), nullable=True),
        sa.Column("backlog", sa.Integer(), nullable=True),
        sa.Column("next_run_at", sa.DateTime(), nullable=True),
        sa.Column("reference_seeded", sa.Boolean(), nullable=False),
        sa.Column("lease_owner", sa.String(), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "event",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("level", sa.String(), nullable=False),
        sa.Column("message", sa.String(), nullable=False),
    )
    op.create_index("ix_event_at", "event", ["at"])
    op.create_index("ix_event_source", "event", ["source"])
    op.create_table(
        "instance",
        sa.Column("owner", sa.String(), primary_key=True),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=False),
    )


def _carry_over_01() -> None:
    """0.1 called unreadable mail 'skipped', left 'decided' tickets to resume, and numbered references by row id."""
    prefix = context.config.attributes.get("reference_prefix", "SUP")
    op.execute("UPDATE ticket SET status = 'unreadable' WHERE status = 'skipped'")
    # NOT dry_run and a dialect's own padding: the same statements run on SQLite (0/1) and PostgreSQL (boolean)
    postgres = op.get_bind().dialect.name == "postgresql"
    padded = "lpad(CAST(id AS TEXT), 6, '0')" if postgres else "substr('000000' || id, -6, 6)"
    op.execute("UPDATE ticket SET pending = (status = 'decided' AND NOT dry_run)")
    op.execute(sa.text(f"UPDATE ticket SET reference = :prefix || '-' || {padded} "
                       "WHERE department != '' AND NOT dry_run AND id < 1000000").bindparams(prefix=prefix))
    op.execute(sa.text("UPDATE ticket SET reference = :prefix || '-' || CAST(id AS TEXT) "
                       "WHERE department != '' AND NOT dry_run AND id >= 1000000").bindparams(prefix=prefix))
    op.execute("UPDATE action SET state = 'pending' WHERE state = 'retry'")
    op.execute("INSERT INTO counter (name, value) SELECT 'reference', COALESCE(MAX(id), 0) FROM ticket")


def downgrade() -> None:
    """Back to 0.1's tables (the new tables and columns are dropped)."""
    for table in ("instance", "event", "source_state", "counter"):
        op.drop_table(table)
    for index in ("ix_ticket_sender", "ix_ticket_pending", "ux_ticket_reference", "ux_ticket_key"):
        op.drop_index(index, "ticket")
    op.create_index("ux_ticket_source_key", "ticket", ["source", "key"], unique=True,
                    sqlite_where=sa.text("dry_run = 0"), postgresql_where=sa.text("dry_run = false"))
    with op.batch_alter_table("action") as batch:
        batch.drop_column("marker")
    with op.batch_alter_table("ticket") as batch:
        for column in _TICKET_COLUMNS:
            batch.drop_column(column.name)

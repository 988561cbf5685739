"""Alembic environment: deskbot runs its migrations itself, on the connection bot/log/database.py passes in."""

from __future__ import annotations

from alembic import context

from bot.log.schema import SQLModel

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=SQLModel.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

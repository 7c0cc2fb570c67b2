"""Alembic environment: runs on the connection :func:`m365bot.controlroom.db.migrate`
hands over, inside its transaction (and, on PostgreSQL, its advisory lock)."""

from __future__ import annotations

from alembic import context

from m365bot.controlroom.db import VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only db.migrate runs migrations
    raise RuntimeError("the Control Room migrations run through m365bot.controlroom.db")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()

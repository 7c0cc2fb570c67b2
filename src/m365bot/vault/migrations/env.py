"""Alembic environment: runs on the connection the vault store hands over.

The store calls ``command.upgrade`` with ``config.attributes["connection"]`` set, inside
its own transaction (and lock), so concurrent first opens do not race.
"""

from __future__ import annotations

from alembic import context

from m365bot.vault.models import metadata

VERSION_TABLE = "m365bot_vault_alembic_version"

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only the store runs migrations
    raise RuntimeError("the vault migrations run through m365bot.vault.store")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()

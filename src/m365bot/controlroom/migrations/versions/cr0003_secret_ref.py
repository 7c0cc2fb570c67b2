"""A connection's client secret may be a Credential Vault reference (locker, credential,
attribute) read at each token request instead of a sealed copy, so a secret rotated in the
vault is used without editing the connection; and the last reason reading it failed (names
only). Connections saved before keep their sealed secret and work as they did.

Revision ID: cr0003
Revises: cr0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "cr0003"
down_revision = "cr0002"
branch_labels = None
depends_on = None

_COLUMNS = (("client_secret_locker", 200), ("client_secret_credential", 200),
            ("client_secret_attribute", 200), ("client_secret_error", 500))


def upgrade() -> None:
    with op.batch_alter_table("cr_oauth_connections") as batch:
        for name, length in _COLUMNS:
            batch.add_column(sa.Column(name, sa.String(length), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cr_oauth_connections") as batch:
        for name, _ in reversed(_COLUMNS):
            batch.drop_column(name)

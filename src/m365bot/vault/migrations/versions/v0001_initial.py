"""The first vault schema: meta, keys, lockers, members, credentials, attributes, blobs, audit.

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

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "vault_meta",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("vault_id", sa.String(64), nullable=False),
        sa.Column("current_key_version", sa.Integer, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_table(
        "vault_keys",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("kdf", sa.String(16), nullable=False),
        sa.Column("salt", sa.LargeBinary, nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("verifier", sa.LargeBinary, nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary, nullable=True),
        sa.Column("wrapped_by", sa.Integer, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("retired_at", _TS, nullable=True),
    )
    op.create_table(
        "vault_lockers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_table(
        "vault_locker_members",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "locker_id",
            sa.Integer,
            sa.ForeignKey("vault_lockers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("principal", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.UniqueConstraint("locker_id", "principal"),
    )
    op.create_table(
        "vault_credentials",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "locker_id",
            sa.Integer,
            sa.ForeignKey("vault_lockers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.UniqueConstraint("locker_id", "name"),
    )
    op.create_table(
        "vault_attributes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "credential_id",
            sa.Integer,
            sa.ForeignKey("vault_credentials.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("masked", sa.Boolean, nullable=False),
        sa.Column("user_provided", sa.Boolean, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.UniqueConstraint("credential_id", "name"),
    )
    op.create_table(
        "vault_blobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("key", sa.String(500), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("kek_version", sa.Integer, nullable=False),
        sa.Column("nonce", sa.LargeBinary, nullable=False),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("wrapped_dek", sa.LargeBinary, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.UniqueConstraint("kind", "key"),
    )
    op.create_index("ix_vault_blobs_kek_version", "vault_blobs", ["kek_version"])
    op.create_table(
        "vault_audit",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", _TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("locker", sa.String(200), nullable=False),
        sa.Column("credential", sa.String(200), nullable=False),
        sa.Column("attribute", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(500), nullable=False),
        sa.Column("outcome", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "vault_audit",
        "vault_blobs",
        "vault_attributes",
        "vault_credentials",
        "vault_locker_members",
        "vault_lockers",
        "vault_keys",
        "vault_meta",
    ):
        op.drop_table(table)

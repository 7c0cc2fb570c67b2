"""OAuth connections, their invited roles and their token slots (Shared and User-specific);
client secrets and tokens are stored sealed, never in plaintext.

Revision ID: cr0002
Revises: cr0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "cr0002"
down_revision = "cr0001"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cr_oauth_connections",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(300), nullable=False, unique=True),
        sa.Column("provider_type", sa.String(60), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("cloud", sa.String(20), nullable=False),
        sa.Column("grant_type", sa.String(40), nullable=False),
        sa.Column("client_id", sa.String(200), nullable=False),
        sa.Column("authorization_url", sa.String(2000), nullable=False),
        sa.Column("token_url", sa.String(2000), nullable=False),
        sa.Column("scopes", sa.Text, nullable=False),
        sa.Column("client_secret", sa.LargeBinary, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "cr_connection_roles",
        sa.Column("connection_id", sa.Integer,
                  sa.ForeignKey("cr_oauth_connections.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("role_id", sa.Integer, sa.ForeignKey("cr_roles.id", ondelete="CASCADE"),
                  primary_key=True),
    )
    op.create_table(
        "cr_oauth_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("connection_id", sa.Integer,
                  sa.ForeignKey("cr_oauth_connections.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("expires_on", sa.Float, nullable=False),
        sa.Column("renewable", sa.Boolean, nullable=False),
        sa.Column("refreshed_at", sa.Float, nullable=False),
        sa.Column("refused", sa.String(100), nullable=True),
        sa.Column("refused_at", sa.Float, nullable=True),
        sa.UniqueConstraint("connection_id", "owner", name="uq_cr_oauth_tokens_slot"),
    )
    op.create_index("ix_cr_connection_roles_role", "cr_connection_roles", ["role_id"])
    op.create_index("ix_cr_oauth_tokens_owner", "cr_oauth_tokens", ["owner"])


def downgrade() -> None:
    op.drop_table("cr_oauth_tokens")
    op.drop_table("cr_connection_roles")
    op.drop_table("cr_oauth_connections")

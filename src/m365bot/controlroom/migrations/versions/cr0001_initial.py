"""The first Control Room schema: users, roles, API keys, web sessions, the audit log.

The audit log is append-only in the database itself: triggers refuse UPDATE and DELETE
(and TRUNCATE on PostgreSQL), whoever connects.

Revision ID: cr0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "cr0001"
down_revision = None
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)

_SQLITE_TRIGGERS = (
    "CREATE TRIGGER cr_audit_no_update BEFORE UPDATE ON cr_audit "
    "BEGIN SELECT RAISE(ABORT, 'cr_audit is append-only'); END",
    "CREATE TRIGGER cr_audit_no_delete BEFORE DELETE ON cr_audit "
    "BEGIN SELECT RAISE(ABORT, 'cr_audit is append-only'); END",
)
_PG_TRIGGERS = (
    "CREATE FUNCTION cr_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'cr_audit is append-only'; END $$",
    "CREATE TRIGGER cr_audit_no_change BEFORE UPDATE OR DELETE ON cr_audit "
    "FOR EACH ROW EXECUTE FUNCTION cr_audit_append_only()",
    "CREATE TRIGGER cr_audit_no_truncate BEFORE TRUNCATE ON cr_audit "
    "FOR EACH STATEMENT EXECUTE FUNCTION cr_audit_append_only()",
)


def upgrade() -> None:
    op.create_table(
        "cr_users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("is_admin", sa.Boolean, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("failed_count", sa.Integer, nullable=False),
        sa.Column("locked_until", _TS, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "cr_roles",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_table(
        "cr_user_roles",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("cr_users.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("role_id", sa.Integer, sa.ForeignKey("cr_roles.id", ondelete="CASCADE"),
                  primary_key=True),
    )
    op.create_table(
        "cr_api_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("prefix", sa.String(32), nullable=False, unique=True),
        sa.Column("key_hash", sa.String(128), nullable=False),
        sa.Column("run_as", sa.String(200), nullable=False),
        sa.Column("bots", sa.Text, nullable=False),
        sa.Column("roles", sa.Text, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.Column("last_used_at", _TS, nullable=True),
    )
    op.create_table(
        "cr_web_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("cr_users.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("last_seen", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
    )
    op.create_index("ix_cr_web_sessions_user_id", "cr_web_sessions", ["user_id"])
    op.create_table(
        "cr_audit",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", _TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("target", sa.String(500), nullable=False),
        sa.Column("outcome", sa.String(40), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_cr_audit_at", "cr_audit", ["at"])
    op.create_index("ix_cr_audit_action", "cr_audit", ["action"])
    triggers = _PG_TRIGGERS if op.get_bind().dialect.name == "postgresql" else _SQLITE_TRIGGERS
    for statement in triggers:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS cr_audit_no_change ON cr_audit")
        op.execute("DROP TRIGGER IF EXISTS cr_audit_no_truncate ON cr_audit")
        op.execute("DROP FUNCTION IF EXISTS cr_audit_append_only()")
    for table in ("cr_audit", "cr_web_sessions", "cr_api_keys", "cr_user_roles", "cr_roles",
                  "cr_users"):
        op.drop_table(table)

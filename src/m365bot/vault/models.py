"""The vault's tables (SQLAlchemy Core ``Table`` objects on one ``MetaData``, the storage
style the Control Room uses too). The same schema runs on SQLite and PostgreSQL; alembic
creates it (``migrations/``) and a test checks these tables against what it creates.

Values never sit in these tables in clear: attribute values and other modules' blobs live
in :data:`blobs` as AES-GCM ciphertext (see :mod:`m365bot.vault.crypto`).

Example::

    from sqlalchemy import select
    from m365bot.vault.models import lockers
    with store.tx("listing lockers", write=False) as conn:
        names = conn.execute(select(lockers.c.name)).scalars().all()
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from m365bot.vault.roles import ROLES

_TS = DateTime(timezone=True)

metadata = MetaData()

# One row: the vault's identity and which master-key version is current.
meta = Table(
    "vault_meta", metadata,
    Column("id", Integer, primary_key=True),
    Column("vault_id", String(64), nullable=False),
    Column("current_key_version", Integer, nullable=False),
    Column("created_at", _TS, nullable=False),
)

# A master-key version: how to derive it, a verifier, and (while rows still use it) the
# key itself wrapped by the current master key, so rotation never strands a record.
key_versions = Table(
    "vault_keys", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("kdf", String(16), nullable=False),
    Column("salt", LargeBinary, nullable=False),
    Column("params", Text, nullable=False),
    Column("verifier", LargeBinary, nullable=False),
    Column("wrapped_key", LargeBinary, nullable=True),
    Column("wrapped_by", Integer, nullable=True),
    Column("created_at", _TS, nullable=False),
    Column("retired_at", _TS, nullable=True),
)

# A locker: a named group of credentials with its own members.
lockers = Table(
    "vault_lockers", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_by", String(200), nullable=False),
    Column("created_at", _TS, nullable=False),
)

# A locker member: a user (``alice``) or a role (``role:bots``) with a locker role.
members = Table(
    "vault_locker_members", metadata,
    Column("id", Integer, primary_key=True),
    Column("locker_id", Integer, ForeignKey("vault_lockers.id", ondelete="CASCADE"),
           nullable=False),
    Column("principal", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    UniqueConstraint("locker_id", "principal"),
)

# A named set of attributes inside a locker.
credentials = Table(
    "vault_credentials", metadata,
    Column("id", Integer, primary_key=True),
    Column("locker_id", Integer, ForeignKey("vault_lockers.id", ondelete="CASCADE"),
           nullable=False),
    Column("name", String(200), nullable=False),
    Column("owner", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", _TS, nullable=False),
    UniqueConstraint("locker_id", "name"),
)

# An attribute of a credential: standard (one value) or user-provided (one per user).
attributes = Table(
    "vault_attributes", metadata,
    Column("id", Integer, primary_key=True),
    Column("credential_id", Integer, ForeignKey("vault_credentials.id", ondelete="CASCADE"),
           nullable=False),
    Column("name", String(200), nullable=False),
    Column("masked", Boolean, nullable=False, default=True),
    Column("user_provided", Boolean, nullable=False, default=False),
    Column("description", Text, nullable=False, default=""),
    UniqueConstraint("credential_id", "name"),
)

# One encrypted value. ``kind`` + ``key`` name it; both are bound into the AEAD.
blobs = Table(
    "vault_blobs", metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(100), nullable=False),
    Column("key", String(500), nullable=False),
    Column("version", Integer, nullable=False),
    Column("kek_version", Integer, nullable=False, index=True),
    Column("nonce", LargeBinary, nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("wrapped_dek", LargeBinary, nullable=False),
    Column("updated_at", _TS, nullable=False),
    UniqueConstraint("kind", "key"),
)

# Who did what to which attribute, when, and the outcome. Never a value.
audit_records = Table(
    "vault_audit", metadata,
    Column("id", Integer, primary_key=True),
    Column("at", _TS, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(40), nullable=False),
    Column("locker", String(200), nullable=False, default=""),
    Column("credential", String(200), nullable=False, default=""),
    Column("attribute", String(200), nullable=False, default=""),
    Column("subject", String(500), nullable=False, default=""),
    Column("outcome", String(40), nullable=False),
)

__all__ = [
    "ROLES",
    "attributes",
    "audit_records",
    "blobs",
    "credentials",
    "key_versions",
    "lockers",
    "members",
    "meta",
    "metadata",
]

"""The vault's tables (SQLAlchemy 2.0 typed ORM). The same schema runs on SQLite and PostgreSQL.

Values never sit in these tables in clear: attribute values and other modules' blobs live
in :class:`Blob` as AES-GCM ciphertext (see :mod:`m365bot.vault.crypto`).

Example::

    from m365bot.vault.models import Base, Locker
    print(Locker.__tablename__)   # vault_lockers
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from m365bot.vault.roles import ROLES


class Base(DeclarativeBase):
    """Declarative base of the vault tables."""


class Meta(Base):
    """One row: the vault's identity and which master-key version is current."""

    __tablename__ = "vault_meta"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vault_id: Mapped[str] = mapped_column(String(64))
    current_key_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class KeyVersion(Base):
    """A master-key version: how to derive it, a verifier, and (while rows still use it)
    the key itself wrapped by the current master key, so rotation never strands a record."""

    __tablename__ = "vault_keys"
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kdf: Mapped[str] = mapped_column(String(16))
    salt: Mapped[bytes] = mapped_column(LargeBinary)
    params: Mapped[str] = mapped_column(Text)
    verifier: Mapped[bytes] = mapped_column(LargeBinary)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    wrapped_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Locker(Base):
    """A locker: a named group of credentials with its own members."""

    __tablename__ = "vault_lockers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Member(Base):
    """A locker member: a user (``alice``) or a role (``role:bots``) with a locker role."""

    __tablename__ = "vault_locker_members"
    __table_args__ = (UniqueConstraint("locker_id", "principal"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    locker_id: Mapped[int] = mapped_column(ForeignKey("vault_lockers.id", ondelete="CASCADE"))
    principal: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))


class Credential(Base):
    """A named set of attributes inside a locker."""

    __tablename__ = "vault_credentials"
    __table_args__ = (UniqueConstraint("locker_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    locker_id: Mapped[int] = mapped_column(ForeignKey("vault_lockers.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Attribute(Base):
    """An attribute of a credential: standard (one value) or user-provided (one per user)."""

    __tablename__ = "vault_attributes"
    __table_args__ = (UniqueConstraint("credential_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    credential_id: Mapped[int] = mapped_column(
        ForeignKey("vault_credentials.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(200))
    masked: Mapped[bool] = mapped_column(Boolean, default=True)
    user_provided: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str] = mapped_column(Text, default="")


class Blob(Base):
    """One encrypted value. ``kind``+``key`` name it; both are bound into the AEAD."""

    __tablename__ = "vault_blobs"
    __table_args__ = (UniqueConstraint("kind", "key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(500))
    version: Mapped[int] = mapped_column(Integer)
    kek_version: Mapped[int] = mapped_column(Integer, index=True)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    wrapped_dek: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditRecord(Base):
    """Who did what to which attribute, when, and the outcome. Never a value."""

    __tablename__ = "vault_audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    locker: Mapped[str] = mapped_column(String(200), default="")
    credential: Mapped[str] = mapped_column(String(200), default="")
    attribute: Mapped[str] = mapped_column(String(200), default="")
    subject: Mapped[str] = mapped_column(String(500), default="")
    outcome: Mapped[str] = mapped_column(String(40))


__all__ = [
    "ROLES",
    "Attribute",
    "AuditRecord",
    "Base",
    "Blob",
    "Credential",
    "KeyVersion",
    "Locker",
    "Member",
    "Meta",
]

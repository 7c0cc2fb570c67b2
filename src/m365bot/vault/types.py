"""Plain data the vault API takes and returns. None of these ever holds a value in clear
except :class:`AttributeSpec`, whose value is a :class:`~m365bot.values.Secret`.

Example::

    from m365bot.vault.types import AttributeSpec
    spec = AttributeSpec("s3cret", masked=True)
    print(spec)   # AttributeSpec(value=Secret('********'), masked=True, ...)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from m365bot.errors import ConfigError, VaultError
from m365bot.values import Secret

_NAME = re.compile(r"^[^/\x00-\x1f\x7f]{1,200}$")


def check_name(value: str, what: str) -> str:
    """A locker, credential or attribute name, lower-cased (names are case-insensitive)."""
    if not isinstance(value, str) or not _NAME.match(value) or value.strip() != value:
        raise ConfigError(
            f"the {what} name {value!r} is not valid",
            field=what,
            advice=f"use 1-200 characters for the {what} name, without '/', control "
            "characters or surrounding spaces",
        )
    return value.lower()


_LABEL = re.compile(r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]{1,200}$")


def check_label(value: str, what: str) -> str:
    """An actor or role name, lower-cased: 1-200 characters, no control characters (they
    would forge lines in the audit log's text output), no surrounding spaces."""
    if not isinstance(value, str) or not _LABEL.match(value) or value.strip() != value:
        shown = repr(value) if isinstance(value, str) else type(value).__name__
        raise ConfigError(
            f"the {what} name {shown} is not valid",
            field=what,
            advice=f"use 1-200 characters for the {what} name, without control characters "
            "(such as newlines) or surrounding spaces",
        )
    return value.lower()


class BlobConflict(VaultError):
    """``put_blob(..., if_version=N)`` found another version: someone wrote first."""


class BlobStore(Protocol):
    """The blob API other modules keep their secrets with (token caches, Control Room
    connections); :class:`m365bot.vault.Vault` provides it. Type a store parameter with
    this instead of ``Vault`` to accept a stand-in too."""

    def put_blob(self, kind: str, key: str, data: bytes, *,
                 if_version: int | None = None) -> int: ...

    def get_blob(self, kind: str, key: str) -> bytes | None: ...

    def get_blob_with_version(self, kind: str, key: str) -> tuple[bytes | None, int]: ...

    def blob_version(self, kind: str, key: str) -> int | None: ...

    def delete_blob(self, kind: str, key: str) -> bool: ...


RESERVED_KINDS = ("credential", "vault.")


def check_blob_name(kind: str, key: str) -> None:
    """Blob kinds are the caller's own (``credential`` and ``vault.*`` are reserved)."""
    if not kind or kind.startswith(RESERVED_KINDS) or len(kind) > 100:
        raise ConfigError(f"the blob kind {kind!r} is reserved or empty", field="kind",
                          advice="use your module's own kind, e.g. 'token_cache'")
    if not key or len(key) > 500:
        raise ConfigError("the blob key must be 1-500 characters", field="key")


def check_blob(kind: str, key: str, data: bytes) -> bytes:
    """Check a blob write's name and data; returns the data as bytes.

    Example::

        data = check_blob("token_cache", "global|tid|cid|alice", cache_bytes)
    """
    check_blob_name(kind, key)
    if not isinstance(data, bytes | bytearray):
        raise ConfigError("blob data must be bytes", field="data")
    return bytes(data)


@dataclass(frozen=True)
class AttributeSpec:
    """An attribute to create or update: its value (optional), masked, user-provided.

    A user-provided attribute keeps one value per user; giving ``value`` sets the caller's.
    """

    value: Secret | None = None
    masked: bool = True
    user_provided: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if self.value is not None and not isinstance(self.value, Secret):
            object.__setattr__(self, "value", Secret(self.value))


@dataclass(frozen=True)
class AttributeInfo:
    """An attribute's metadata. ``has_value`` is for the caller (their own, if user-provided)."""

    name: str
    masked: bool
    user_provided: bool
    has_value: bool
    description: str = ""


@dataclass(frozen=True)
class CredentialInfo:
    """A credential's name, owner and attribute metadata; never values."""

    locker: str
    name: str
    owner: str
    description: str
    attributes: tuple[AttributeInfo, ...] = ()


@dataclass(frozen=True)
class LockerInfo:
    """A locker the caller belongs to, the caller's role, and its members (principal → role)."""

    name: str
    role: str
    members: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditEntry:
    """One audit record: who, what, when, outcome. Never a value."""

    at: datetime
    actor: str
    action: str
    locker: str
    credential: str
    attribute: str
    subject: str
    outcome: str


__all__ = [
    "AttributeInfo",
    "AttributeSpec",
    "AuditEntry",
    "BlobConflict",
    "BlobStore",
    "CredentialInfo",
    "LockerInfo",
    "check_blob",
    "check_blob_name",
    "check_label",
    "check_name",
]

"""The :class:`Vault`: the Credential Vault's public face.

A bot process typically opens the vault, unlocks it, reads a credential and its token
cache. On SQLite those calls run on the standard library's ``sqlite3``
(:mod:`m365bot.vault.lite`), so such a process never imports SQLAlchemy; everything else
(and PostgreSQL) goes through the SQLAlchemy models (:mod:`m365bot.vault.orm`), loaded on
first use. Both share the same keys, locks, tables and durability settings. Nothing
decrypts before :meth:`Vault.unlock`.

Example::

    from m365bot.vault import Vault, AttributeSpec
    with Vault.open("/tmp/v.db", actor="alice") as v:
        v.initialize(passphrase="correct horse battery staple")
        v.create_locker("bots")
        v.set_credential("bots", "o365", {"client_secret": AttributeSpec("s3cret")})
        v.get("bots", "o365", "client_secret").reveal()   # 's3cret'
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from m365bot.errors import (
    ConfigError,
    VaultAccessDenied,
    VaultError,
    VaultIntegrityError,
)
from m365bot.values import Secret
from m365bot.vault import crypto
from m365bot.vault.keys import KdfName, key_source, open_keyring
from m365bot.vault.lite import AuditFailed, LiteStore, Where
from m365bot.vault.paths import HEAD_REVISION, prepare_sqlite_file, to_url
from m365bot.vault.types import (
    AttributeSpec,
    AuditEntry,
    BlobConflict,
    CredentialInfo,
    LockerInfo,
    check_blob,
    check_blob_name,
    check_name,
)

if TYPE_CHECKING:
    from m365bot.vault.orm import OrmVault

log = logging.getLogger(__name__)


class Vault:
    """The Credential Vault on SQLite (default) or PostgreSQL. Open it with :meth:`open`."""

    def __init__(self, location: str, path: Path | None, *, actor: str,
                 roles: tuple[str, ...]) -> None:
        self._location = location
        self.path = path
        self.actor = actor
        self.roles = roles
        self._ring: crypto.Keyring | None = None
        self._vault_id = ""
        self._write_lock = threading.RLock()
        self._lite = LiteStore(path) if path is not None else None
        self._orm_impl: OrmVault | None = None

    @classmethod
    def open(
        cls, url_or_path: str | os.PathLike[str], *, actor: str, roles: tuple[str, ...] = ()
    ) -> Vault:
        """Open (creating or upgrading the schema) a vault at a path or database URL.

        ``actor`` is who the locker roles and the audit log see; ``roles`` are the actor's
        role names, matched by locker members written ``role:NAME``. The vault is locked.
        """
        if not actor or not isinstance(actor, str):
            raise ConfigError("the vault needs an actor name", field="actor",
                              advice="pass actor='your user name'")
        _url, path = to_url(url_or_path)
        vault = cls(os.fspath(url_or_path), path, actor=actor.lower(),
                    roles=tuple(r.lower() for r in roles))
        if vault._lite is not None and path is not None:
            prepare_sqlite_file(path)
            if vault._lite.revision() != HEAD_REVISION:
                vault._orm()  # creates or upgrades the schema with alembic
        else:
            vault._orm()
        log.info("vault opened (%s)", "sqlite" if path else vault.engine_dialect)
        return vault

    def _orm(self) -> OrmVault:
        if self._orm_impl is None:
            from m365bot.vault.orm import OrmVault

            self._orm_impl = OrmVault(self, self._location)
        return self._orm_impl

    def close(self) -> None:
        """Lock the vault and release its database connections."""
        self.lock()
        if self._orm_impl is not None:
            self._orm_impl.dispose()

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "unlocked" if self._ring else "locked"
        return f"<Vault {self.path or self.engine_dialect} actor={self.actor!r} {state}>"

    @property
    def unlocked(self) -> bool:
        """True after a successful :meth:`unlock` or :meth:`initialize`."""
        return self._ring is not None

    @property
    def engine_dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return "sqlite" if self._lite is not None else self._orm().engine_dialect

    def storage_settings(self) -> dict[str, str]:
        """The durability settings the vault's connections really run with (SQLite: journal
        mode, synchronous level (2 = FULL), busy timeout in ms, on both the sqlite3 fast
        path and SQLAlchemy's connections; PostgreSQL: server version)."""
        orm = self._orm().storage_settings()
        if self._lite is None:
            return orm
        return self._lite.storage_settings() | {f"sqlalchemy.{k}": v for k, v in orm.items()}

    def _require_ring(self) -> crypto.Keyring:
        return crypto.unlocked(self._ring)

    # -- keys -------------------------------------------------------------------------

    @property
    def initialized(self) -> bool:
        """True when the vault has a master key (``m365bot vault init`` was run)."""
        if self._lite is not None:
            return self._lite.key_rows() is not None
        return self._orm().initialized

    def initialize(
        self,
        *,
        passphrase: str | Secret | None = None,
        key: bytes | str | Secret | None = None,
        kdf: KdfName = "scrypt",
        kdf_params: dict[str, int] | None = None,
    ) -> None:
        """Set the first master key (passphrase via scrypt/Argon2id, or 32-byte key); unlocks.

        Example::

            vault.initialize(passphrase="correct horse battery staple", kdf="argon2id")
        """
        self._orm().initialize(key_source(passphrase, key), kdf=kdf, kdf_params=kdf_params)

    def unlock(
        self, *, passphrase: str | Secret | None = None, key: bytes | str | Secret | None = None
    ) -> None:
        """Derive the master key and load the keyring; a wrong one raises VaultError."""
        source = key_source(passphrase, key)
        if self._lite is None:
            self._orm().unlock(source)
            return
        found = self._lite.key_rows()
        if found is None:
            raise VaultError(
                "the vault is not initialized", advice="run 'm365bot vault init' first"
            )
        vault_id, current, rows = found
        ring = open_keyring(source, vault_id, current, rows)
        self._vault_id, self._ring = vault_id, ring
        log.info("vault unlocked (key version %d)", ring.current)

    def lock(self) -> None:
        """Forget the master keys; every decrypting call raises VaultLockedError after this."""
        if self._ring is not None:
            self._ring.forget()
        self._ring = None

    def rotate_master_key(
        self,
        *,
        passphrase: str | Secret | None = None,
        key: bytes | str | Secret | None = None,
        kdf: KdfName = "scrypt",
        kdf_params: dict[str, int] | None = None,
    ) -> int:
        """Switch to a new master key and rewrap every data key under it; returns the count.

        Safe while others write: the switch is one transaction, and other processes still
        holding the old key get VaultLockedError on their next write (unlock again).
        """
        self._require_ring()
        source = key_source(passphrase, key)
        return self._orm().rotate_master_key(source, kdf=kdf, kdf_params=kdf_params)

    def key_versions_in_use(self) -> dict[int, int]:
        """Master-key version → number of records wrapped by it (for checks after rotation)."""
        return self._orm().key_versions_in_use()

    # -- blobs ------------------------------------------------------------------------

    def put_blob(
        self, kind: str, key: str, data: bytes, *, if_version: int | None = None
    ) -> int:
        """Store ``data`` encrypted under (kind, key); returns the new version (1, 2, ...).

        With ``if_version``, the write happens only if the stored version is still that
        (0 = absent); otherwise :class:`BlobConflict`.

        Example::

            v = vault.put_blob("token_cache", "global|tid|cid|alice", cache_bytes)
        """
        if self._lite is None:
            return self._orm().put_blob(kind, key, data, if_version=if_version)
        data = check_blob(kind, key, data)
        ring = self._require_ring()
        with self._write_lock:
            return self._lite.write_blob(ring, self._vault_id, kind, key, data,
                                         if_version=if_version, conflict=BlobConflict)

    def get_blob_with_version(self, kind: str, key: str) -> tuple[bytes | None, int]:
        """The blob and its version (0 when absent), read together."""
        if self._lite is None:
            return self._orm().get_blob_with_version(kind, key)
        check_blob_name(kind, key)
        ring = self._require_ring()
        row = self._lite.read_blob(kind, key)
        if row is None:
            return None, 0
        aad = crypto.record_aad(self._vault_id, kind, key, row.version)
        return crypto.open_sealed(ring, row.record, aad), row.version

    def get_blob(self, kind: str, key: str) -> bytes | None:
        """The decrypted blob, or None if absent. VaultIntegrityError if it was altered."""
        return self.get_blob_with_version(kind, key)[0]

    def blob_version(self, kind: str, key: str) -> int | None:
        """The stored version of a blob (None if absent), without decrypting anything."""
        if self._lite is None:
            return self._orm().blob_version(kind, key)
        check_blob_name(kind, key)
        row = self._lite.read_blob(kind, key)
        return None if row is None else row.version

    def delete_blob(self, kind: str, key: str) -> bool:
        """Remove a blob; True if it existed."""
        return self._orm().delete_blob(kind, key)

    def audit_log(self, *, limit: int = 100, locker: str | None = None) -> list[AuditEntry]:
        """The newest audit records first (needs an unlocked vault). Never holds values."""
        return self._orm().audit_log(limit=limit, locker=locker)

    # -- lockers and credentials ------------------------------------------------------

    def get(self, locker: str, credential: str, attribute: str) -> Secret:
        """The attribute's value (the caller's own for a user-provided one), as a Secret.

        Audited before it returns; if the audit record cannot be written, the read fails.

        Example::

            secret = vault.get("bots", "o365", "client_secret")
        """
        if self._lite is None:
            return self._orm().get(locker, credential, attribute)
        ring = self._require_ring()
        where = Where(check_name(locker, "locker"), check_name(credential, "credential"),
                      check_name(attribute, "attribute"))
        principals = {self.actor} | {f"role:{r}" for r in self.roles}
        try:
            with self._write_lock:
                data = self._lite.read_value(ring, self._vault_id, self.actor, principals,
                                             where)
        except (VaultAccessDenied, VaultIntegrityError) as exc:
            outcome = "denied" if isinstance(exc, VaultAccessDenied) else "integrity-error"
            if not self._lite.audit_best_effort(self.actor, where, outcome):
                log.warning("vault audit record for a refused read could not be written")
            raise
        except AuditFailed as exc:
            raise VaultError(
                "the read was refused because its audit record could not be written "
                f"({exc.message})",
                advice="fix the vault database (disk full, read-only, or a trigger on "
                "vault_audit) and retry") from None
        log.info("vault value %s/%s/%s read", *where)
        return Secret(data.decode("utf-8"))

    def create_locker(self, name: str) -> None:
        """Create a locker; the caller becomes its owner."""
        self._orm().create_locker(name)

    def add_member(self, locker: str, member: str, role: str) -> None:
        """Add (or change) a member: a user name or ``role:NAME``. Owners add any role;
        managers add consumers only.

        Example::

            vault.add_member("bots", "role:runners", "consumer")
        """
        self._orm().add_member(locker, member, role)

    def remove_member(self, locker: str, member: str) -> None:
        """Remove a member (owners only); a locker always keeps one owner."""
        self._orm().remove_member(locker, member)

    def list_lockers(self) -> list[LockerInfo]:
        """The lockers the caller belongs to, with the caller's role and the members."""
        return self._orm().list_lockers()

    def set_credential(self, locker: str, name: str, attributes: Mapping[str, AttributeSpec],
                       *, description: str = "") -> None:
        """Create or update a credential and its attributes (values are optional).

        Owners and managers write any credential; participants only their own.
        """
        self._orm().set_credential(locker, name, attributes, description=description)

    def set_attribute(self, locker: str, credential: str, attribute: str,
                      value: str | Secret) -> None:
        """Set one attribute's value (the caller's own, for a user-provided attribute)."""
        self._orm().set_attribute(locker, credential, attribute, value)

    def list_credentials(self, locker: str) -> list[CredentialInfo]:
        """Credential names and attribute metadata the caller may see; never values."""
        return self._orm().list_credentials(locker)

    def delete_credential(self, locker: str, credential: str) -> None:
        """Delete a credential and its values (owner, manager, or its participant owner)."""
        self._orm().delete_credential(locker, credential)


__all__ = ["BlobConflict", "Vault"]

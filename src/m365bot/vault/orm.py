"""The SQLAlchemy side of the vault: keys, rotation, blobs and audit on any dialect.

:class:`m365bot.vault.Vault` is the public face; it uses :class:`OrmVault` for PostgreSQL,
for schema creation and for every operation the SQLite fast path
(:mod:`m365bot.vault.lite`) does not serve. Lockers and credentials come from
:class:`m365bot.vault.lockers.LockerOps`.

Example::

    from m365bot.vault import Vault
    vault = Vault.open("postgresql+psycopg://postgres@127.0.0.1/test", actor="alice")
    vault.unlock(key=key)     # served by OrmVault on PostgreSQL
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from m365bot.errors import M365BotError, VaultError, VaultLockedError
from m365bot.vault import crypto
from m365bot.vault.keys import (
    KdfName,
    KdfParams,
    KeyRow,
    MasterKeySource,
    derive,
    keyring_aad,
    make_verifier,
    open_keyring,
    verifier_aad,
)
from m365bot.vault.lockers import LockerOps
from m365bot.vault.models import AuditRecord, Blob, KeyVersion, Meta
from m365bot.vault.store import READ_ONLY, db_error, migrate, open_engine
from m365bot.vault.types import AuditEntry, BlobConflict, check_blob, check_blob_name

log = logging.getLogger(__name__)

_REWRAP_BATCH = 200


def _now() -> datetime:
    return datetime.now(UTC)


class VaultState(Protocol):
    """What :class:`OrmVault` shares with the :class:`m365bot.vault.Vault` that owns it."""

    actor: str
    roles: tuple[str, ...]
    _ring: crypto.Keyring | None
    _vault_id: str
    _write_lock: threading.RLock


class OrmVault(LockerOps):
    """The SQLAlchemy implementation behind :class:`m365bot.vault.Vault` (every dialect).

    Keys, actor and locks live in the owning Vault, so the SQLite fast path
    (:mod:`m365bot.vault.lite`) and this one always agree.
    """

    def __init__(self, owner: VaultState, url_or_path: str | os.PathLike[str]) -> None:
        engine, path = open_engine(url_or_path)
        try:
            migrate(engine)
        except VaultError:
            engine.dispose()
            raise
        except SQLAlchemyError as exc:
            engine.dispose()
            raise db_error(exc, "opening the vault") from None
        self._owner = owner
        self._engine = engine
        self._reader = engine.execution_options(**{READ_ONLY: True})
        self.path = path

    # State lives in the owning Vault.
    @property
    def actor(self) -> str:  # type: ignore[override]
        return self._owner.actor

    @property
    def roles(self) -> tuple[str, ...]:  # type: ignore[override]
        return self._owner.roles

    @property
    def _write_lock(self) -> threading.RLock:  # type: ignore[override]
        return self._owner._write_lock

    @property
    def _ring(self) -> crypto.Keyring | None:
        return self._owner._ring

    @_ring.setter
    def _ring(self, ring: crypto.Keyring | None) -> None:
        self._owner._ring = ring

    @property
    def _vault_id(self) -> str:
        return self._owner._vault_id

    @_vault_id.setter
    def _vault_id(self, value: str) -> None:
        self._owner._vault_id = value

    def dispose(self) -> None:
        """Release the database connections."""
        self._engine.dispose()

    @property
    def engine_dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    def storage_settings(self) -> dict[str, str]:
        """The durability settings a vault connection really runs with (SQLite: journal mode,
        synchronous level (2 = FULL), busy timeout in ms; PostgreSQL: server version)."""
        with self._engine.connect() as conn:
            if conn.dialect.name != "sqlite":
                return {"dialect": conn.dialect.name,
                        "server_version": str(conn.exec_driver_sql("SHOW server_version").scalar())}
            return {"dialect": "sqlite"} | {
                name: str(conn.exec_driver_sql(f"PRAGMA {name}").scalar())
                for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
            }

    @contextmanager
    def _tx(self, doing: str, *, write: bool = True) -> Iterator[Session]:
        bind = self._engine if write else self._reader
        try:
            with Session(bind, expire_on_commit=False) as s, s.begin():
                yield s
        except M365BotError:
            raise
        except SQLAlchemyError as exc:
            raise db_error(exc, doing) from None

    def _require_ring(self) -> crypto.Keyring:
        return crypto.unlocked(self._ring)

    @property
    def initialized(self) -> bool:
        """True when the vault has a master key (``m365bot vault init`` was run)."""
        with self._tx("reading the vault key table", write=False) as s:
            return s.get(Meta, 1) is not None

    def initialize(
        self, source: MasterKeySource, *, kdf: KdfName, kdf_params: dict[str, int] | None
    ) -> None:
        """Set the first master key (passphrase via scrypt/Argon2id, or 32-byte key); unlocks."""
        params = KdfParams.new("raw" if source.kind == "raw" else kdf, **(kdf_params or {}))
        master = derive(source, KdfParams.load(params.kdf, params.salt, params.to_json()))
        vault_id = uuid.uuid4().hex
        with self._write_lock, self._tx("initializing the vault") as s:
            if s.get(Meta, 1) is not None:
                raise VaultError(
                    "the vault is already initialized",
                    advice="unlock it, or rotate its key with 'm365bot vault rotate-key'",
                )
            s.add(Meta(id=1, vault_id=vault_id, current_key_version=1, created_at=_now()))
            s.add(self._key_row(vault_id, 1, params, master))
            self._audit(s, "vault.init", outcome="ok")
        self._vault_id = vault_id
        self._ring = crypto.Keyring({1: master}, current=1)
        log.info("vault initialized (kdf %s)", params.kdf)

    def _key_row(self, vault_id: str, version: int, params: KdfParams, master: bytes) -> KeyVersion:
        aad = verifier_aad(vault_id, version)
        return KeyVersion(
            version=version,
            kdf=params.kdf,
            salt=params.salt,
            params=params.to_json(),
            verifier=make_verifier(master, aad),
            created_at=_now(),
        )

    def unlock(self, source: MasterKeySource) -> None:
        """Derive the master key and load the keyring; a wrong one raises VaultError."""
        with self._tx("reading the vault key table", write=False) as s:
            meta = s.get(Meta, 1)
            rows = [KeyRow(r.version, r.kdf, r.salt, r.params, r.verifier, r.wrapped_key,
                           r.wrapped_by) for r in s.scalars(select(KeyVersion))]
        if meta is None:
            raise VaultError(
                "the vault is not initialized", advice="run 'm365bot vault init' first"
            )
        ring = open_keyring(source, meta.vault_id, meta.current_key_version, rows)
        self._vault_id = meta.vault_id
        self._ring = ring

    @staticmethod
    def _keyring_aad(vault_id: str, old: int, new: int) -> bytes:
        return keyring_aad(vault_id, old, new)

    # -- rotation ---------------------------------------------------------------------

    def rotate_master_key(
        self, source: MasterKeySource, *, kdf: KdfName, kdf_params: dict[str, int] | None
    ) -> int:
        """Switch to a new master key and rewrap every data key under it; returns the count.

        Safe while others write: the switch is one transaction, and other processes still
        holding the old key get VaultLockedError on their next write (unlock again).
        """
        ring = self._require_ring()
        params = KdfParams.new("raw" if source.kind == "raw" else kdf, **(kdf_params or {}))
        new_master = derive(source, KdfParams.load(params.kdf, params.salt, params.to_json()))
        with self._write_lock:
            with self._tx("rotating the vault master key") as s:
                self._check_current(s, ring, exclusive=True)
                top = s.scalar(select(func.max(KeyVersion.version))) or 0
                new_version = top + 1
                s.add(self._key_row(self._vault_id, new_version, params, new_master))
                # Keep every older key, wrapped by the new one, until no row uses it.
                for version in ring.versions():
                    row = s.get(KeyVersion, version)
                    assert row is not None
                    row.wrapped_key = crypto.wrap_dek(
                        new_master, new_version, ring.key(version),
                        self._keyring_aad(self._vault_id, version, new_version),
                    )
                    row.wrapped_by = new_version
                    row.retired_at = row.retired_at or _now()
                meta = s.get(Meta, 1)
                assert meta is not None
                meta.current_key_version = new_version
                self._audit(s, "key.rotate", subject=f"version {new_version}", outcome="ok")
            keys = {v: ring.key(v) for v in ring.versions()} | {new_version: new_master}
            ring.replace(keys, current=new_version)
        count = self._rewrap_all()
        log.info("vault master key rotated to version %d (%d data keys rewrapped)",
                 new_version, count)
        return count

    def _check_current(self, s: Session, ring: crypto.Keyring, *, exclusive: bool = False) -> None:
        # On PostgreSQL, writers share-lock the meta row and rotation locks it exclusively,
        # so no write can commit under a key version that rotation is retiring. (SQLite
        # gets the same from BEGIN IMMEDIATE.)
        meta = s.get(Meta, 1, with_for_update={"read": not exclusive})
        if meta is None:
            raise VaultError("the vault is not initialized", advice="run 'm365bot vault init'")
        if meta.current_key_version != ring.current:
            raise VaultLockedError(
                "the vault's master key was rotated since this vault was unlocked",
                advice="unlock it again with the new passphrase or key",
            )

    def _rewrap_all(self) -> int:
        ring = self._require_ring()
        total = 0
        while True:
            with self._write_lock, self._tx("rewrapping data keys") as s:
                self._check_current(s, ring, exclusive=True)
                rows = list(
                    s.scalars(
                        select(Blob).where(Blob.kek_version != ring.current).limit(_REWRAP_BATCH)
                    )
                )
                for row in rows:
                    aad = self._blob_aad(row.kind, row.key, row.version)
                    rec = crypto.rewrap(ring, self._record(row), aad)
                    row.kek_version, row.wrapped_dek = rec.kek_version, rec.wrapped_dek
                total += len(rows)
                if not rows:
                    # No row uses the old versions any more: drop their wrapped keys.
                    stale = select(KeyVersion).where(KeyVersion.version != ring.current,
                                                     KeyVersion.wrapped_key.is_not(None))
                    for kv in s.scalars(stale):
                        kv.wrapped_key = None
                        kv.wrapped_by = None
                    break
        ring.replace({ring.current: ring.key(ring.current)}, current=ring.current)
        return total

    def key_versions_in_use(self) -> dict[int, int]:
        """Master-key version → number of records wrapped by it (for checks after rotation)."""
        with self._tx("counting key versions", write=False) as s:
            rows = s.execute(select(Blob.kek_version, func.count()).group_by(Blob.kek_version))
            return {int(v): int(n) for v, n in rows}

    # -- blobs ------------------------------------------------------------------------

    def _blob_aad(self, kind: str, key: str, version: int) -> bytes:
        return crypto.record_aad(self._vault_id, kind, key, version)

    @staticmethod
    def _record(row: Blob) -> crypto.SealedRecord:
        return crypto.SealedRecord(row.kek_version, row.nonce, row.ciphertext, row.wrapped_dek)

    def _write_blob(
        self, s: Session, kind: str, key: str, data: bytes, *, if_version: int | None = None
    ) -> int:
        ring = self._require_ring()
        self._check_current(s, ring)
        row = s.scalar(select(Blob).where(Blob.kind == kind, Blob.key == key))
        old = row.version if row is not None else 0
        if if_version is not None and if_version != old:
            raise BlobConflict(
                f"the vault record {kind}/{key} is at version {old}, not {if_version}",
                advice="read it again and retry",
            )
        version = old + 1
        rec = crypto.seal(ring, data, self._blob_aad(kind, key, version))
        if row is None:
            row = Blob(kind=kind, key=key)
            s.add(row)
        row.version, row.kek_version = version, rec.kek_version
        row.nonce, row.ciphertext, row.wrapped_dek = rec.nonce, rec.ciphertext, rec.wrapped_dek
        row.updated_at = _now()
        return version

    def _read_blob(self, s: Session, kind: str, key: str) -> bytes | None:
        ring = self._require_ring()
        row = s.scalar(select(Blob).where(Blob.kind == kind, Blob.key == key))
        if row is None:
            return None
        return crypto.open_sealed(ring, self._record(row), self._blob_aad(kind, key, row.version))

    @staticmethod
    def _check_blob_name(kind: str, key: str) -> None:
        check_blob_name(kind, key)

    def put_blob(
        self, kind: str, key: str, data: bytes, *, if_version: int | None = None
    ) -> int:
        """Store ``data`` encrypted under (kind, key): :meth:`m365bot.vault.Vault.put_blob`."""
        data = check_blob(kind, key, data)
        with self._write_lock, self._tx(f"writing {kind}") as s:
            return self._write_blob(s, kind, key, data, if_version=if_version)

    def get_blob(self, kind: str, key: str) -> bytes | None:
        """The decrypted blob, or None if absent. VaultIntegrityError if it was altered."""
        self._check_blob_name(kind, key)
        self._require_ring()
        with self._tx(f"reading {kind}", write=False) as s:
            return self._read_blob(s, kind, key)

    def get_blob_with_version(self, kind: str, key: str) -> tuple[bytes | None, int]:
        """The blob and its version (0 when absent), read together."""
        self._check_blob_name(kind, key)
        self._require_ring()
        with self._tx(f"reading {kind}", write=False) as s:
            version = s.scalar(select(Blob.version).where(Blob.kind == kind, Blob.key == key))
            return self._read_blob(s, kind, key), int(version or 0)

    def blob_version(self, kind: str, key: str) -> int | None:
        """The stored version of a blob (None if absent), without decrypting anything."""
        self._check_blob_name(kind, key)
        with self._tx(f"reading {kind}", write=False) as s:
            v = s.scalar(select(Blob.version).where(Blob.kind == kind, Blob.key == key))
            return None if v is None else int(v)

    def delete_blob(self, kind: str, key: str) -> bool:
        """Remove a blob; True if it existed."""
        self._check_blob_name(kind, key)
        with self._write_lock, self._tx(f"deleting {kind}") as s:
            row = s.scalar(select(Blob).where(Blob.kind == kind, Blob.key == key))
            if row is None:
                return False
            s.delete(row)
            return True

    # -- audit ------------------------------------------------------------------------

    def _audit(
        self,
        s: Session,
        action: str,
        *,
        outcome: str,
        **where: str,
    ) -> None:
        s.add(AuditRecord(at=_now(), actor=self.actor, action=action,
                          locker=where.get("locker", ""), credential=where.get("credential", ""),
                          attribute=where.get("attribute", ""), subject=where.get("subject", ""),
                          outcome=outcome))
        s.flush()

    def _audit_best_effort(self, action: str, outcome: str, **where: str) -> None:
        try:
            with self._tx("writing the audit log") as s:
                self._audit(s, action, outcome=outcome, **where)
        except M365BotError:
            log.warning("vault audit record for a refused %s could not be written", action)

    def audit_log(self, *, limit: int = 100, locker: str | None = None) -> list[AuditEntry]:
        """The newest audit records first (needs an unlocked vault). Never holds values."""
        self._require_ring()
        with self._tx("reading the audit log", write=False) as s:
            q = select(AuditRecord).order_by(AuditRecord.id.desc()).limit(limit)
            if locker:
                q = q.where(AuditRecord.locker == locker.lower())
            return [
                AuditEntry(r.at, r.actor, r.action, r.locker, r.credential, r.attribute,
                           r.subject, r.outcome)
                for r in s.scalars(q)
            ]


__all__ = ["OrmVault", "VaultState"]

"""The :class:`Vault`: open, unlock, rotate the master key, and the encrypted blob API.

Lockers, credentials and attributes are in :mod:`m365bot.vault.lockers`, mixed into
:class:`Vault`. Nothing decrypts before :meth:`Vault.unlock`.

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
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from m365bot.errors import ConfigError, M365BotError, VaultError, VaultLockedError
from m365bot.values import Secret
from m365bot.vault import crypto
from m365bot.vault.keys import (
    KdfName,
    KdfParams,
    MasterKeySource,
    check_verifier,
    derive,
    make_verifier,
)
from m365bot.vault.lockers import LockerOps
from m365bot.vault.models import AuditRecord, Blob, KeyVersion, Meta
from m365bot.vault.store import READ_ONLY, db_error, migrate, open_engine
from m365bot.vault.types import AuditEntry

log = logging.getLogger(__name__)

RESERVED_KINDS = ("credential", "vault.")
_REWRAP_BATCH = 200


class BlobConflict(VaultError):
    """``put_blob(..., if_version=N)`` found another version: someone wrote first."""


def _now() -> datetime:
    return datetime.now(UTC)


def _source(passphrase: str | Secret | None, key: bytes | str | Secret | None) -> MasterKeySource:
    if (passphrase is None) == (key is None):
        raise ConfigError(
            "give exactly one of a passphrase or a key to unlock the vault",
            field="passphrase",
            advice="pass passphrase=... or key=... (32 bytes or their base64)",
        )
    if passphrase is not None:
        return MasterKeySource.from_passphrase(passphrase)
    assert key is not None
    return MasterKeySource.from_key(key)


class Vault(LockerOps):
    """The Credential Vault on SQLite (default) or PostgreSQL. Open it with :meth:`open`."""

    def __init__(self, engine: object, path: Path | None, *, actor: str, roles: tuple[str, ...]):
        from sqlalchemy import Engine

        assert isinstance(engine, Engine)
        self._engine = engine
        self._reader = engine.execution_options(**{READ_ONLY: True})
        self.path = path
        self.actor = actor
        self.roles = roles
        self._ring: crypto.Keyring | None = None
        self._vault_id = ""
        self._write_lock = threading.RLock()

    # -- opening and keys -------------------------------------------------------------

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
        engine, path = open_engine(url_or_path)
        try:
            migrate(engine)
        except VaultError:
            engine.dispose()
            raise
        except SQLAlchemyError as exc:
            engine.dispose()
            raise db_error(exc, "opening the vault") from None
        log.info("vault opened (%s)", "sqlite" if path else engine.dialect.name)
        return cls(engine, path, actor=actor.lower(), roles=tuple(r.lower() for r in roles))

    def close(self) -> None:
        """Lock the vault and release its database connections."""
        self.lock()
        self._engine.dispose()

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "unlocked" if self._ring else "locked"
        return f"<Vault {self.path or self._engine.dialect.name} actor={self.actor!r} {state}>"

    @property
    def unlocked(self) -> bool:
        """True after a successful :meth:`unlock` or :meth:`initialize`."""
        return self._ring is not None

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
        if self._ring is None:
            raise VaultLockedError(
                "the vault is locked", advice="unlock it with the passphrase or key first"
            )
        return self._ring

    @property
    def initialized(self) -> bool:
        """True when the vault has a master key (``m365bot vault init`` was run)."""
        with self._tx("reading the vault key table", write=False) as s:
            return s.get(Meta, 1) is not None

    def initialize(
        self,
        *,
        passphrase: str | Secret | None = None,
        key: bytes | str | Secret | None = None,
        kdf: KdfName = "scrypt",
        kdf_params: dict[str, int] | None = None,
    ) -> None:
        """Set the first master key (passphrase via scrypt/Argon2id, or 32-byte key); unlocks."""
        source = _source(passphrase, key)
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
        aad = crypto.record_aad(vault_id, "verifier", version)
        return KeyVersion(
            version=version,
            kdf=params.kdf,
            salt=params.salt,
            params=params.to_json(),
            verifier=make_verifier(master, aad),
            created_at=_now(),
        )

    def unlock(
        self, *, passphrase: str | Secret | None = None, key: bytes | str | Secret | None = None
    ) -> None:
        """Derive the master key and load the keyring; a wrong one raises VaultError."""
        source = _source(passphrase, key)
        with self._tx("reading the vault key table", write=False) as s:
            meta = s.get(Meta, 1)
            rows = list(s.scalars(select(KeyVersion)))
        if meta is None:
            raise VaultError(
                "the vault is not initialized", advice="run 'm365bot vault init' first"
            )
        by_version = {r.version: r for r in rows}
        current = by_version.get(meta.current_key_version)
        if current is None:
            raise VaultError(
                "the vault's key table is missing its current key (the file was altered)",
                advice="restore the vault from a backup",
            )
        params = KdfParams.load(current.kdf, current.salt, current.params)
        master = derive(source, params)
        aad = crypto.record_aad(meta.vault_id, "verifier", current.version)
        if not check_verifier(master, current.verifier, aad):
            what = "passphrase" if source.kind == "passphrase" else "key"
            raise VaultError(
                f"wrong {what} for this vault",
                advice=f"give the vault's current {what}; after 'rotate-key' the old one "
                "no longer opens it",
            )
        keys = {current.version: master}
        for row in rows:
            if row.wrapped_key and row.wrapped_by == current.version:
                keys[row.version] = crypto.unwrap_dek(
                    master, current.version, row.wrapped_key, self._keyring_aad(
                        meta.vault_id, row.version, current.version)
                )
        self._vault_id = meta.vault_id
        self._ring = crypto.Keyring(keys, current=current.version)
        log.info("vault unlocked (key version %d)", current.version)

    @staticmethod
    def _keyring_aad(vault_id: str, old: int, new: int) -> bytes:
        return crypto.record_aad(vault_id, "keyring", old, new)

    def lock(self) -> None:
        """Forget the master keys; every decrypting call raises VaultLockedError after this."""
        if self._ring is not None:
            self._ring.forget()
        self._ring = None

    # -- rotation ---------------------------------------------------------------------

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
        ring = self._require_ring()
        source = _source(passphrase, key)
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
        if not kind or kind.startswith(RESERVED_KINDS) or len(kind) > 100:
            raise ConfigError(f"the blob kind {kind!r} is reserved or empty", field="kind",
                              advice="use your module's own kind, e.g. 'token_cache'")
        if not key or len(key) > 500:
            raise ConfigError("the blob key must be 1-500 characters", field="key")

    def put_blob(
        self, kind: str, key: str, data: bytes, *, if_version: int | None = None
    ) -> int:
        """Store ``data`` encrypted under (kind, key); returns the new version (1, 2, ...).

        With ``if_version``, the write happens only if the stored version is still that
        (0 = absent); otherwise :class:`BlobConflict`.

        Example::

            v = vault.put_blob("token_cache", "global|tid|cid|alice", cache_bytes)
        """
        self._check_blob_name(kind, key)
        if not isinstance(data, bytes | bytearray):
            raise ConfigError("blob data must be bytes", field="data")
        with self._write_lock, self._tx(f"writing {kind}") as s:
            return self._write_blob(s, kind, key, bytes(data), if_version=if_version)

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


__all__ = ["BlobConflict", "Vault"]

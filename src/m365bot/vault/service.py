"""The :class:`Vault`: the Credential Vault's public face.

One storage path for SQLite and PostgreSQL (:class:`m365bot.vault.store.Store`, on
SQLAlchemy), sealed records checked against a manifest (:mod:`m365bot.vault.records`),
locker roles and the audit log written once (:mod:`m365bot.vault.lockers`). Nothing
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
import uuid
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Row, bindparam, func, select
from sqlalchemy.engine import Connection

from m365bot.errors import ConfigError, M365BotError, VaultError, VaultLockedError
from m365bot.values import Secret
from m365bot.vault import crypto
from m365bot.vault.keys import (
    KdfName,
    KdfParams,
    KeyRow,
    derive,
    key_source,
    keyring_aad,
    make_verifier,
    open_keyring,
    verifier_aad,
)
from m365bot.vault.lockers import LockerOps
from m365bot.vault.models import audit_records, blobs, key_versions, meta
from m365bot.vault.records import MANIFEST_KIND, Records, now, record_of
from m365bot.vault.store import Store
from m365bot.vault.types import AuditEntry, BlobConflict, check_blob, check_blob_name, check_label

log = logging.getLogger(__name__)

_REWRAP_BATCH = 200


def _meta(conn: Connection) -> Row[Any] | None:
    """The vault's one ``vault_meta`` row (None before :meth:`Vault.initialize`)."""
    return conn.execute(select(meta).where(meta.c.id == 1)).first()


def _roles(roles: Iterable[str]) -> tuple[str, ...]:
    if isinstance(roles, str | bytes) or not isinstance(roles, Iterable):
        raise ConfigError(
            f"roles must be a tuple of role names, not {type(roles).__name__}", field="roles",
            advice="pass roles=('admin',) (a tuple), not roles='admin'")
    return tuple(check_label(r, "role") for r in roles)


class Vault(LockerOps):
    """The Credential Vault on SQLite (default) or PostgreSQL. Open it with :meth:`open`."""

    def __init__(self, store: Store, *, actor: str, roles: tuple[str, ...]) -> None:
        self._store = store
        self.path = store.path
        self.actor = actor
        self.roles = roles
        self._ring: crypto.Keyring | None = None
        self._vault_id = ""
        self._write_lock = threading.RLock()
        self._view = False

    @classmethod
    def open(
        cls, url_or_path: str | os.PathLike[str], *, actor: str, roles: Iterable[str] = ()
    ) -> Vault:
        """Open (creating or upgrading the schema) a vault at a path or database URL.

        ``actor`` is who the locker roles and the audit log see; ``roles`` are the actor's
        role names, matched by locker members written ``role:NAME``. The vault is locked.
        """
        if not actor or not isinstance(actor, str):
            raise ConfigError("the vault needs an actor name", field="actor",
                              advice="pass actor='your user name'")
        actor = check_label(actor, "actor")
        role_names = _roles(roles)
        if not isinstance(url_or_path, str | os.PathLike):
            raise ConfigError(f"the vault location must be a path or URL, not "
                              f"{type(url_or_path).__name__}", field="vault",
                              advice="pass a file path or a database URL")
        vault = cls(Store.open(url_or_path), actor=actor, roles=role_names)
        log.info("vault opened (%s)", vault.engine_dialect)
        return vault

    def close(self) -> None:
        """Lock the vault and release its database connections (a view from
        :meth:`acting_as` leaves both to the vault it came from)."""
        if self._view:
            return
        self.lock()
        self._store.dispose()

    def acting_as(self, actor: str, *, roles: Iterable[str] = ()) -> Vault:
        """A view of this vault for another actor: the same database and keys, while the
        locker roles and the audit log see ``actor`` with ``roles``. The Control Room server
        opens one vault and takes a view per signed-in user or runner.

        Example::

            alice = server_vault.acting_as("alice", roles=("finance",))
            alice.list_lockers()        # only alice's lockers
        """
        view = Vault(self._store, actor=check_label(actor, "actor"), roles=_roles(roles))
        view._ring, view._vault_id, view._write_lock = self._ring, self._vault_id, \
            self._write_lock
        view._view = True
        return view

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
        return self._store.dialect

    def storage_settings(self) -> dict[str, str]:
        """The durability settings the vault's connections really run with (SQLite: journal
        mode, synchronous level (2 = FULL), busy timeout in ms; PostgreSQL: server version)."""
        return self._store.storage_settings()

    def _tx(self, doing: str, *, write: bool = True) -> AbstractContextManager[Connection]:
        return self._store.tx(doing, write=write)

    def _require_ring(self) -> crypto.Keyring:
        return crypto.unlocked(self._ring)

    def _records(self, conn: Connection) -> Records:
        return Records(conn, self._require_ring(), self._vault_id)

    # -- keys -------------------------------------------------------------------------

    @property
    def initialized(self) -> bool:
        """True when the vault has a master key (``m365bot vault init`` was run)."""
        with self._tx("reading the vault key table", write=False) as conn:
            return _meta(conn) is not None

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
        source = key_source(passphrase, key)
        params = KdfParams.new("raw" if source.kind == "raw" else kdf, **(kdf_params or {}))
        master = derive(source, KdfParams.load(params.kdf, params.salt, params.to_json()))
        vault_id = uuid.uuid4().hex
        ring = crypto.Keyring({1: master}, current=1)
        with self._write_lock, self._tx("initializing the vault") as conn:
            if _meta(conn) is not None:
                raise VaultError(
                    "the vault is already initialized",
                    advice="unlock it, or rotate its key with 'm365bot vault rotate-key'",
                )
            conn.execute(meta.insert().values(id=1, vault_id=vault_id, current_key_version=1,
                                              created_at=now()))
            conn.execute(key_versions.insert().values(
                self._key_row(vault_id, 1, params, master)))
            Records(conn, ring, vault_id).save_manifest({})
            self._audit(conn, "vault.init", outcome="ok")
        self._vault_id, self._ring = vault_id, ring
        log.info("vault initialized (kdf %s)", params.kdf)

    @staticmethod
    def _key_row(vault_id: str, version: int, params: KdfParams,
                 master: bytes) -> dict[str, object]:
        # A new ``vault_keys`` row; wrapped_key, wrapped_by and retired_at start empty.
        return {"version": version, "kdf": params.kdf, "salt": params.salt,
                "params": params.to_json(),
                "verifier": make_verifier(master, verifier_aad(vault_id, version)),
                "created_at": now()}

    def unlock(
        self, *, passphrase: str | Secret | None = None, key: bytes | str | Secret | None = None
    ) -> None:
        """Derive the master key and load the keyring; a wrong one raises VaultError."""
        source = key_source(passphrase, key)
        with self._tx("reading the vault key table", write=False) as conn:
            head = _meta(conn)
            rows = [KeyRow(r.version, r.kdf, r.salt, r.params, r.verifier, r.wrapped_key,
                           r.wrapped_by) for r in conn.execute(select(key_versions))]
        if head is None:
            raise VaultError(
                "the vault is not initialized", advice="run 'm365bot vault init' first"
            )
        vault_id = str(head.vault_id)
        ring, pinned = open_keyring(source, vault_id, head.current_key_version, rows)
        if not pinned:
            self._pin_versions(ring, vault_id)
        self._vault_id, self._ring = vault_id, ring
        log.info("vault unlocked (key version %d)", ring.current)

    def _pin_versions(self, ring: crypto.Keyring, vault_id: str) -> None:
        """A vault made before the manifest: pin its records' versions now, and mark its
        verifier so that from now on a missing manifest reads as tampering."""
        with self._write_lock, self._tx("building the vault manifest") as conn:
            records = Records(conn, ring, vault_id)
            if not records.has_manifest():
                records.build_manifest()
            done = conn.execute(key_versions.update()
                                .where(key_versions.c.version == ring.current)
                                .values(verifier=make_verifier(
                                    ring.key(ring.current),
                                    verifier_aad(vault_id, ring.current))))
            assert done.rowcount == 1
        log.info("vault manifest of record versions created")

    def lock(self) -> None:
        """Forget the master keys; every decrypting call raises VaultLockedError after this."""
        if self._view:
            return
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
        ring = self._require_ring()
        source = key_source(passphrase, key)
        params = KdfParams.new("raw" if source.kind == "raw" else kdf, **(kdf_params or {}))
        new_master = derive(source, KdfParams.load(params.kdf, params.salt, params.to_json()))
        with self._write_lock:
            with self._tx("rotating the vault master key") as conn:
                self._check_current(conn, ring)
                new_version = (conn.execute(select(func.max(key_versions.c.version)))
                               .scalar() or 0) + 1
                conn.execute(key_versions.insert().values(
                    self._key_row(self._vault_id, new_version, params, new_master)))
                # Keep every older key, wrapped by the new one, until no row uses it.
                for version in ring.versions():
                    this = key_versions.c.version == version
                    retired_at = conn.execute(select(key_versions.c.retired_at)
                                              .where(this)).scalar_one()
                    wrapped = crypto.wrap_dek(new_master, new_version, ring.key(version),
                                              keyring_aad(self._vault_id, version, new_version))
                    conn.execute(key_versions.update().where(this).values(
                        wrapped_key=wrapped, wrapped_by=new_version,
                        retired_at=retired_at or now()))
                conn.execute(meta.update().where(meta.c.id == 1)
                             .values(current_key_version=new_version))
                self._audit(conn, "key.rotate", subject=f"version {new_version}",
                            outcome="ok")
            keys = {v: ring.key(v) for v in ring.versions()} | {new_version: new_master}
            ring.replace(keys, current=new_version)
        count = self._rewrap_all()
        log.info("vault master key rotated to version %d (%d data keys rewrapped)",
                 new_version, count)
        return count

    @staticmethod
    def _check_current(conn: Connection, ring: crypto.Keyring) -> None:
        # Writers hold the store's write lock, so rotation cannot switch keys under them.
        head = _meta(conn)
        if head is None:
            raise VaultError("the vault is not initialized", advice="run 'm365bot vault init'")
        if head.current_key_version != ring.current:
            raise VaultLockedError(
                "the vault's master key was rotated since this vault was unlocked",
                advice="unlock it again with the new passphrase or key",
            )

    def _rewrap_all(self) -> int:
        ring = self._require_ring()
        total = 0
        while True:
            with self._write_lock, self._tx("rewrapping data keys") as conn:
                self._check_current(conn, ring)
                records = self._records(conn)
                rows = conn.execute(select(blobs).where(blobs.c.kek_version != ring.current)
                                    .limit(_REWRAP_BATCH)).all()
                if not rows:
                    # No row uses the old versions any more: drop their wrapped keys.
                    conn.execute(key_versions.update()
                                 .where(key_versions.c.version != ring.current,
                                        key_versions.c.wrapped_key.is_not(None))
                                 .values(wrapped_key=None, wrapped_by=None))
                    break
                rewrapped = []
                for row in rows:
                    rec = crypto.rewrap(ring, record_of(row),
                                        records.aad(row.kind, row.key, row.version))
                    rewrapped.append({"row_id": row.id, "new_kek": rec.kek_version,
                                      "new_dek": rec.wrapped_dek})
                # One executemany for the batch (the bind names differ from the columns').
                conn.execute(blobs.update().where(blobs.c.id == bindparam("row_id"))
                             .values(kek_version=bindparam("new_kek"),
                                     wrapped_dek=bindparam("new_dek")), rewrapped)
                total += sum(row.kind != MANIFEST_KIND for row in rows)
        ring.replace({ring.current: ring.key(ring.current)}, current=ring.current)
        return total

    def key_versions_in_use(self) -> dict[int, int]:
        """Master-key version → number of records wrapped by it (for checks after rotation)."""
        with self._tx("counting key versions", write=False) as conn:
            rows = conn.execute(select(blobs.c.kek_version, func.count())
                                .where(blobs.c.kind != MANIFEST_KIND)
                                .group_by(blobs.c.kek_version))
            return {int(v): int(n) for v, n in rows}

    # -- records (used by the locker operations too) ------------------------------------

    def _write_blob(self, conn: Connection, kind: str, key: str, data: bytes, *,
                    if_version: int | None = None) -> int:
        ring = self._require_ring()
        self._check_current(conn, ring)
        return self._records(conn).write(kind, key, data, if_version=if_version)

    def _read_blob(self, conn: Connection, kind: str, key: str) -> bytes | None:
        return self._records(conn).read(kind, key)[0]

    def _delete_blobs(self, conn: Connection, kind: str, prefix: str) -> int:
        self._check_current(conn, self._require_ring())
        return self._records(conn).delete_prefix(kind, prefix)

    # -- blobs ------------------------------------------------------------------------

    def put_blob(
        self, kind: str, key: str, data: bytes, *, if_version: int | None = None
    ) -> int:
        """Store ``data`` encrypted under (kind, key); returns the new version (1, 2, ...).

        With ``if_version``, the write happens only if the stored version is still that
        (0 = absent); otherwise :class:`BlobConflict`. Atomic on SQLite and PostgreSQL.

        Example::

            v = vault.put_blob("token_cache", "global|tid|cid|alice", cache_bytes)
        """
        data = check_blob(kind, key, data)
        if if_version is not None and (isinstance(if_version, bool)
                                       or not isinstance(if_version, int) or if_version < 0):
            raise ConfigError("if_version must be a version number (0 = absent)",
                              field="if_version", advice="pass the version read with the blob")
        self._require_ring()
        with self._write_lock, self._tx(f"writing {kind}") as conn:
            return self._write_blob(conn, kind, key, data, if_version=if_version)

    def get_blob_with_version(self, kind: str, key: str) -> tuple[bytes | None, int]:
        """The blob and its version (0 when absent), read together."""
        check_blob_name(kind, key)
        self._require_ring()
        with self._tx(f"reading {kind}", write=False) as conn:
            return self._records(conn).read(kind, key)

    def get_blob(self, kind: str, key: str) -> bytes | None:
        """The decrypted blob, or None if absent. VaultIntegrityError if it was altered."""
        return self.get_blob_with_version(kind, key)[0]

    def blob_version(self, kind: str, key: str) -> int | None:
        """The stored version of a blob (None if absent), without decrypting anything."""
        check_blob_name(kind, key)
        with self._tx(f"reading {kind}", write=False) as conn:
            v = conn.execute(select(blobs.c.version)
                             .where(blobs.c.kind == kind, blobs.c.key == key)).scalar()
            return None if v is None else int(v)

    def delete_blob(self, kind: str, key: str) -> bool:
        """Remove a blob; True if it existed."""
        check_blob_name(kind, key)
        self._require_ring()
        with self._write_lock, self._tx(f"deleting {kind}") as conn:
            self._check_current(conn, self._require_ring())
            return self._records(conn).delete(kind, key)

    # -- audit ------------------------------------------------------------------------

    def _audit(self, conn: Connection, action: str, *, outcome: str, **where: str) -> None:
        # Written at once, so a failing audit write fails the operation it records.
        conn.execute(audit_records.insert().values(
            at=now(), actor=self.actor, action=action, locker=where.get("locker", ""),
            credential=where.get("credential", ""), attribute=where.get("attribute", ""),
            subject=where.get("subject", ""), outcome=outcome))

    def _audit_best_effort(self, action: str, outcome: str, **where: str) -> None:
        try:
            with self._tx("writing the audit log") as conn:
                self._audit(conn, action, outcome=outcome, **where)
        except M365BotError:
            log.warning("vault audit record for a refused %s could not be written", action)

    def audit_log(self, *, limit: int = 100, locker: str | None = None) -> list[AuditEntry]:
        """The newest audit records first (needs an unlocked vault). Never holds values."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError(f"limit must be a positive whole number, not {limit!r}",
                              field="limit", advice="pass limit=100 (1 or more)")
        self._require_ring()
        with self._tx("reading the audit log", write=False) as conn:
            q = select(audit_records).order_by(audit_records.c.id.desc()).limit(limit)
            if locker:
                q = q.where(audit_records.c.locker == locker.lower())
            return [
                AuditEntry(r.at, r.actor, r.action, r.locker, r.credential, r.attribute,
                           r.subject, r.outcome)
                for r in conn.execute(q)
            ]


__all__ = ["BlobConflict", "Vault"]

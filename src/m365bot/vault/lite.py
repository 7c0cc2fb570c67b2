"""The SQLite hot path without SQLAlchemy: unlock, audited reads and the blob API.

A bot process that only unlocks the vault, reads a credential and its token cache should
not pay for importing SQLAlchemy (hundreds of milliseconds). For a SQLite vault whose
schema is current, :class:`m365bot.vault.Vault` serves those calls from here with the
standard library's ``sqlite3``, on the same tables, with the same durability settings and
the same crypto; everything else goes through the SQLAlchemy models.

Example::

    store = LiteStore(Path("vault.db"))
    store.revision()            # '0001'
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from m365bot.errors import (
    NotFoundError,
    VaultAccessDenied,
    VaultError,
    VaultLockedError,
)
from m365bot.vault import crypto
from m365bot.vault.keys import KeyRow
from m365bot.vault.paths import BUSY_TIMEOUT_MS, SQLITE_PRAGMAS, VERSION_TABLE, db_error
from m365bot.vault.roles import ROLES, can_see, strongest_role


def now_text() -> str:
    """A timestamp in the text form SQLAlchemy's SQLite DateTime type reads back."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class BlobRow(NamedTuple):
    version: int
    record: crypto.SealedRecord


class Where(NamedTuple):
    locker: str
    credential: str
    attribute: str


class LiteStore:
    """Transactions on a SQLite vault file with ``sqlite3`` (one connection per call)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        for pragma in SQLITE_PRAGMAS:
            conn.execute(pragma)
        return conn

    @contextmanager
    def tx(self, doing: str, *, write: bool) -> Iterator[sqlite3.Connection]:
        """A transaction: BEGIN IMMEDIATE for writers, a plain snapshot for readers."""
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            raise db_error(exc, doing) from None
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            yield conn
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            _rollback(conn)
            raise db_error(exc, doing) from None
        except BaseException:
            _rollback(conn)
            raise
        finally:
            conn.close()

    def storage_settings(self) -> dict[str, str]:
        """The PRAGMAs this path's connections run with (synchronous 2 = FULL)."""
        conn = self._connect()
        try:
            return {"dialect": "sqlite"} | {
                name: str(conn.execute(f"PRAGMA {name}").fetchone()[0])
                for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
            }
        finally:
            conn.close()

    def revision(self) -> str | None:
        """The schema revision, or None for an empty file. A damaged file raises VaultError."""
        with self.tx("opening the vault", write=False) as c:
            exists = c.execute("SELECT name FROM sqlite_master WHERE type='table' AND name=?",
                               (VERSION_TABLE,)).fetchone()
            if not exists:
                return None
            row = c.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone()
            return str(row[0]) if row else None

    def key_rows(self) -> tuple[str, int, list[KeyRow]] | None:
        """(vault id, current key version, key rows), or None when not initialized."""
        with self.tx("reading the vault key table", write=False) as c:
            meta = c.execute("SELECT vault_id, current_key_version FROM vault_meta "
                             "WHERE id=1").fetchone()
            if meta is None:
                return None
            rows = [KeyRow(int(r[0]), str(r[1]), bytes(r[2]), str(r[3]), bytes(r[4]),
                           None if r[5] is None else bytes(r[5]),
                           None if r[6] is None else int(r[6]))
                    for r in c.execute("SELECT version, kdf, salt, params, verifier, "
                                       "wrapped_key, wrapped_by FROM vault_keys")]
        return str(meta[0]), int(meta[1]), rows

    @staticmethod
    def _blob(c: sqlite3.Connection, kind: str, key: str) -> BlobRow | None:
        row = c.execute("SELECT version, kek_version, nonce, ciphertext, wrapped_dek "
                        "FROM vault_blobs WHERE kind=? AND key=?", (kind, key)).fetchone()
        if row is None:
            return None
        return BlobRow(int(row[0]), crypto.SealedRecord(int(row[1]), bytes(row[2]),
                                                        bytes(row[3]), bytes(row[4])))

    def read_blob(self, kind: str, key: str) -> BlobRow | None:
        """The stored record of a blob, or None."""
        with self.tx(f"reading {kind}", write=False) as c:
            return self._blob(c, kind, key)

    def write_blob(self, ring: crypto.Keyring, vault_id: str, kind: str, key: str,
                   data: bytes, *, if_version: int | None, conflict: type[VaultError]) -> int:
        """Seal and store ``data``; returns the new version."""
        with self.tx(f"writing {kind}", write=True) as c:
            current = c.execute("SELECT current_key_version FROM vault_meta WHERE id=1"
                                ).fetchone()
            if current is None or int(current[0]) != ring.current:
                raise VaultLockedError(
                    "the vault's master key was rotated since this vault was unlocked",
                    advice="unlock it again with the new passphrase or key")
            old = self._blob(c, kind, key)
            old_version = old.version if old else 0
            if if_version is not None and if_version != old_version:
                raise conflict(
                    f"the vault record {kind}/{key} is at version {old_version}, "
                    f"not {if_version}", advice="read it again and retry")
            version = old_version + 1
            rec = crypto.seal(ring, data, crypto.record_aad(vault_id, kind, key, version))
            values = (version, rec.kek_version, rec.nonce, rec.ciphertext, rec.wrapped_dek,
                      now_text(), kind, key)
            if old is None:
                c.execute("INSERT INTO vault_blobs (version, kek_version, nonce, ciphertext, "
                          "wrapped_dek, updated_at, kind, key) VALUES (?,?,?,?,?,?,?,?)", values)
            else:
                c.execute("UPDATE vault_blobs SET version=?, kek_version=?, nonce=?, "
                          "ciphertext=?, wrapped_dek=?, updated_at=? WHERE kind=? AND key=?",
                          values)
            return version

    @staticmethod
    def audit(c: sqlite3.Connection, actor: str, action: str, where: Where, subject: str,
              outcome: str) -> None:
        c.execute("INSERT INTO vault_audit (at, actor, action, locker, credential, attribute, "
                  "subject, outcome) VALUES (?,?,?,?,?,?,?,?)",
                  (now_text(), actor, action, *where, subject, outcome))

    def read_value(self, ring: crypto.Keyring, vault_id: str, actor: str,
                   principals: set[str], where: Where) -> bytes:
        """An attribute's value for ``actor``, audited in the same transaction.

        Same rules as :meth:`m365bot.vault.lockers.LockerOps.get`.
        """
        with self.tx("reading a credential", write=True) as c:
            lk = c.execute("SELECT id, name FROM vault_lockers WHERE name=?",
                           (where.locker,)).fetchone()
            if lk is None:
                raise NotFoundError(f"no locker named {where.locker!r}",
                                    advice="check the locker name with 'm365bot vault list'")
            members = c.execute("SELECT principal, role FROM vault_locker_members "
                                "WHERE locker_id=?", (lk[0],)).fetchall()
            role = strongest_role([r for p, r in members if p in principals])
            if role not in ROLES:
                raise VaultAccessDenied(
                    f"{actor!r} may not read credentials in locker {lk[1]!r} "
                    f"(role: {role or 'not a member'})",
                    advice="ask a locker owner to add you with a role that allows it")
            assert role is not None
            cred = c.execute("SELECT id, name, owner FROM vault_credentials "
                             "WHERE locker_id=? AND name=?", (lk[0], where.credential)).fetchone()
            if cred is None:
                raise NotFoundError(f"no credential {where.credential!r} in locker {lk[1]!r}",
                                    advice="list them with 'm365bot vault list LOCKER'")
            if not can_see(role, str(cred[2]), actor):
                raise VaultAccessDenied(
                    f"credential {cred[1]!r} belongs to another participant",
                    advice="participants may read only their own credentials")
            attr = c.execute("SELECT id, name, user_provided FROM vault_attributes "
                             "WHERE credential_id=? AND name=?",
                             (cred[0], where.attribute)).fetchone()
            if attr is None:
                raise NotFoundError(
                    f"no attribute {where.attribute!r} in credential {cred[1]!r}",
                    advice="list them with 'm365bot vault attributes LOCKER CREDENTIAL'")
            user = actor if attr[2] else ""
            key = f"{lk[0]}/{cred[0]}/{attr[0]}/{user}"
            blob = self._blob(c, "credential", key)
            if blob is None:
                mine = " for you" if user else ""
                raise NotFoundError(
                    f"attribute {attr[1]!r} of {lk[1]}/{cred[1]} has no value{mine}",
                    advice=f"set it with 'm365bot vault set {lk[1]} {cred[1]} {attr[1]}'")
            data = crypto.open_sealed(ring, blob.record,
                                      crypto.record_aad(vault_id, "credential", key,
                                                        blob.version))
            try:
                self.audit(c, actor, "value.read", where, user, "ok")
            except sqlite3.Error as exc:
                raise AuditFailed(str(exc).splitlines()[0] if str(exc) else "") from None
        return data

    def audit_best_effort(self, actor: str, where: Where, outcome: str) -> bool:
        """Record a refused read; False when even that cannot be written."""
        try:
            with self.tx("writing the audit log", write=True) as c:
                self.audit(c, actor, "value.read", where, "", outcome)
        except VaultError:
            return False
        return True


class AuditFailed(VaultError):
    """The audit record of a read could not be written (the read is refused)."""


def _rollback(conn: sqlite3.Connection) -> None:
    with suppress(sqlite3.Error):
        conn.execute("ROLLBACK")


__all__ = ["AuditFailed", "BlobRow", "LiteStore", "Where", "now_text"]

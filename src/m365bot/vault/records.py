"""Sealed records (the ``vault_blobs`` rows) and the manifest that pins their versions.

Every value the vault keeps, credential attributes and other modules' blobs alike, is one
row sealed by :mod:`m365bot.vault.crypto` with its kind, key and version bound in as
associated data. That stops a row being moved or altered, but not being replaced by an
*older copy of itself*. So the vault also keeps a **manifest**: the current version of
every record, sealed under the master key like a record (kind ``vault.manifest``). Each
write updates it in the same transaction; each read checks the row against it and raises
:class:`~m365bot.errors.VaultIntegrityError` when they differ (a row rolled back, deleted or
brought back). Restoring the *whole* file restores the manifest with it: that is a backup
restore, and it reads as the backup's state.

Example::

    with store.tx("writing") as conn:
        version = Records(conn, ring, vault_id).write("token_cache", "k", b"...")
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.engine import Connection

from m365bot.errors import VaultIntegrityError
from m365bot.vault import crypto
from m365bot.vault.models import blobs
from m365bot.vault.types import BlobConflict

MANIFEST_KIND = "vault.manifest"
MANIFEST_KEY = "versions"
_ROLLED_BACK_ADVICE = (
    "someone put an older copy of this record back, or deleted it, behind the vault's "
    "back: restore the whole vault file from your latest backup (see 'Backups' in "
    "docs/vault.md), or write the value again"
)


def now() -> datetime:
    """The time stamp stored with rows."""
    return datetime.now(UTC)


def record_of(row: Row[Any]) -> crypto.SealedRecord:
    """The sealed parts of a ``vault_blobs`` row."""
    return crypto.SealedRecord(row.kek_version, row.nonce, row.ciphertext, row.wrapped_dek)


class Records:
    """Sealed records read and written on one transaction, checked against the manifest."""

    def __init__(self, conn: Connection, ring: crypto.Keyring, vault_id: str) -> None:
        self.conn = conn
        self.ring = ring
        self.vault_id = vault_id

    def aad(self, kind: str, key: str, version: int) -> bytes:
        """The associated data that binds a record to its vault, name and version."""
        return crypto.record_aad(self.vault_id, kind, key, version)

    def _row(self, kind: str, key: str) -> Row[Any] | None:
        return self.conn.execute(
            select(blobs).where(blobs.c.kind == kind, blobs.c.key == key)).first()

    # -- the manifest -----------------------------------------------------------------

    def manifest(self) -> dict[tuple[str, str], int]:
        """(kind, key) -> current version of every record; VaultIntegrityError when the
        manifest is missing or was altered."""
        row = self._row(MANIFEST_KIND, MANIFEST_KEY)
        if row is None:
            raise VaultIntegrityError(
                "the vault's manifest of record versions is missing (the file was altered)",
                advice="restore the whole vault file from your latest backup")
        data = crypto.open_sealed(self.ring, record_of(row),
                                  self.aad(MANIFEST_KIND, MANIFEST_KEY, row.version))
        return {(str(kind), str(key)): int(version)
                for kind, key, version in json.loads(data.decode("utf-8"))}

    def save_manifest(self, entries: dict[tuple[str, str], int]) -> None:
        """Seal and store the manifest (creating it on first use)."""
        data = json.dumps(sorted([k, n, v] for (k, n), v in entries.items()),
                          separators=(",", ":")).encode("utf-8")
        self._put(MANIFEST_KIND, MANIFEST_KEY, data, self._row(MANIFEST_KIND, MANIFEST_KEY))

    def build_manifest(self) -> None:
        """Pin the versions of the rows as they are now (a vault made before manifests)."""
        rows = self.conn.execute(select(blobs.c.kind, blobs.c.key, blobs.c.version)
                                 .where(blobs.c.kind != MANIFEST_KIND))
        self.save_manifest({(kind, key): int(version) for kind, key, version in rows})

    def has_manifest(self) -> bool:
        """True when the vault has a manifest row."""
        return self._row(MANIFEST_KIND, MANIFEST_KEY) is not None

    # -- records ----------------------------------------------------------------------

    def _checked_row(self, kind: str, key: str,
                     manifest: dict[tuple[str, str], int]) -> Row[Any] | None:
        row = self._row(kind, key)
        pinned = manifest.get((kind, key), 0)
        found = int(row.version) if row is not None else 0
        if found != pinned:
            state = f"at version {found}" if found else "missing"
            raise VaultIntegrityError(
                f"the vault record {kind}/{key} is {state}, but the vault's manifest says "
                f"version {pinned}", advice=_ROLLED_BACK_ADVICE)
        return row

    def read(self, kind: str, key: str) -> tuple[bytes | None, int]:
        """The record's plaintext and version ((None, 0) when absent), checked."""
        row = self._checked_row(kind, key, self.manifest())
        if row is None:
            return None, 0
        return crypto.open_sealed(self.ring, record_of(row),
                                  self.aad(kind, key, row.version)), int(row.version)

    def write(self, kind: str, key: str, data: bytes, *, if_version: int | None = None) -> int:
        """Seal and store ``data``; returns the new version. With ``if_version``, only if
        the current version is still that (0 = absent), else BlobConflict.

        Writing over a rolled-back row is allowed (the new value replaces it); the
        version continues from the highest one either side knew.
        """
        manifest = self.manifest()
        current = manifest.get((kind, key), 0)
        if if_version is not None and if_version != current:
            raise BlobConflict(
                f"the vault record {kind}/{key} is at version {current}, not {if_version}",
                advice="read it again and retry")
        version = self._put(kind, key, data, self._row(kind, key), floor=current)
        manifest[(kind, key)] = version
        self.save_manifest(manifest)
        return version

    def _put(self, kind: str, key: str, data: bytes, row: Row[Any] | None, *,
             floor: int = 0) -> int:
        old = int(row.version) if row is not None else 0
        version = max(old, floor) + 1
        rec = crypto.seal(self.ring, data, self.aad(kind, key, version))
        values = {"version": version, "kek_version": rec.kek_version, "nonce": rec.nonce,
                  "ciphertext": rec.ciphertext, "wrapped_dek": rec.wrapped_dek,
                  "updated_at": now()}
        if row is None:
            self.conn.execute(blobs.insert().values(kind=kind, key=key, **values))
            return version
        # Conditional on the version read: a write that slipped in between is a conflict,
        # never a lost update (the store's write lock makes this the rule, not the luck).
        done = self.conn.execute(blobs.update()
                                 .where(blobs.c.id == row.id, blobs.c.version == old)
                                 .values(**values))
        if done.rowcount != 1:
            raise BlobConflict(f"the vault record {kind}/{key} changed while it was written",
                               advice="read it again and retry")
        return version

    def delete(self, kind: str, key: str) -> bool:
        """Remove a record; True if it existed."""
        return self.delete_where(kind, lambda k: k == key) > 0

    def delete_prefix(self, kind: str, prefix: str) -> int:
        """Remove every record of ``kind`` whose key starts with ``prefix``."""
        return self.delete_where(kind, lambda k: k.startswith(prefix))

    def delete_where(self, kind: str, match: Callable[[str], bool]) -> int:
        """Remove the records of ``kind`` whose key matches; returns how many."""
        manifest = self.manifest()
        keys = [key for key in self.conn.execute(
                    select(blobs.c.key).where(blobs.c.kind == kind)).scalars()
                if match(key)]
        pinned = [k for (kd, k) in manifest if kd == kind and match(k)]
        for key in keys:
            self.conn.execute(blobs.delete().where(blobs.c.kind == kind, blobs.c.key == key))
        for key in pinned:
            del manifest[(kind, key)]
        self.save_manifest(manifest)
        return len(set(keys) | set(pinned))


__all__ = ["MANIFEST_KIND", "Records", "now", "record_of"]

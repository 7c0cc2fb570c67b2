"""No plaintext at rest: the database, WAL and SHM files never hold a value in clear,
before and after a checkpoint; the folder is 0700 and the file 0600."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

from vault_support import canary

from m365bot.vault import AttributeSpec, Vault


def _scan(path: Path, needles: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for suffix in ("", "-wal", "-shm"):
        f = Path(str(path) + suffix)
        if not f.exists():
            continue
        raw = f.read_bytes()
        for n in needles:
            for form in (n.encode(), n.encode("utf-16-le")):
                if form in raw:
                    found.setdefault(f.name, []).append(n)
    return found


def test_no_plaintext_in_db_wal_or_shm(vault: Vault, vault_path: Path) -> None:
    values = [canary(f"at-rest-{i}") for i in range(5)]
    vault.create_locker("bots")
    # A reader holds the WAL open so the pages stay in it (no checkpoint on close).
    holder = sqlite3.connect(vault_path)
    holder.execute("SELECT count(*) FROM sqlite_master").fetchone()
    try:
        for i, v in enumerate(values):
            vault.set_credential("bots", f"c{i}", {"secret": AttributeSpec(v)})
            vault.put_blob("token_cache", f"k{i}", v.encode())
        assert vault.get("bots", "c0", "secret").reveal() == values[0]
        wal = Path(str(vault_path) + "-wal")
        assert wal.exists() and wal.stat().st_size > 0, "the writes should still be in the WAL"
        assert _scan(vault_path, values) == {}
        # Names are metadata and are stored in clear: proves the scan really reads the WAL.
        assert b"c4" in wal.read_bytes()
    finally:
        holder.close()
    with sqlite3.connect(vault_path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert _scan(vault_path, values) == {}
    vault.close()
    assert _scan(vault_path, values) == {}
    with sqlite3.connect(vault_path) as db:
        audit = db.execute("SELECT * FROM vault_audit").fetchall()
    assert audit and not any(v in repr(audit) for v in values)


def test_folder_and_file_permissions(vault: Vault, vault_path: Path) -> None:
    vault.put_blob("token_cache", "k", b"CANARY-perm")
    assert stat.S_IMODE(vault_path.parent.stat().st_mode) == 0o700
    for suffix in ("", "-wal", "-shm"):
        f = Path(str(vault_path) + suffix)
        if f.exists():
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f.name
    assert os.access(vault_path, os.R_OK)

"""The blob API other modules use (token caches, Control Room tokens), and the schema that
alembic creates matching the vault's tables."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from m365bot.errors import ConfigError
from m365bot.vault import AttributeSpec, BlobConflict, Vault
from m365bot.vault.models import metadata
from m365bot.vault.store import HEAD_REVISION


def test_blob_round_trip_versions_and_conflicts(vault: Vault) -> None:
    assert vault.get_blob("token_cache", "global|t|c|alice") is None
    assert vault.blob_version("token_cache", "global|t|c|alice") is None
    assert vault.get_blob_with_version("token_cache", "global|t|c|alice") == (None, 0)
    assert vault.put_blob("token_cache", "global|t|c|alice", b"CANARY-v1") == 1
    assert vault.put_blob("token_cache", "global|t|c|alice", b"CANARY-v2", if_version=1) == 2
    with pytest.raises(BlobConflict, match="version 2, not 1") as err:
        vault.put_blob("token_cache", "global|t|c|alice", b"CANARY-lost", if_version=1)
    assert err.value.advice == "read it again and retry"
    assert vault.get_blob_with_version("token_cache", "global|t|c|alice") == (b"CANARY-v2", 2)
    assert vault.put_blob("controlroom", "new", b"\x00\xff", if_version=0) == 1
    assert vault.get_blob("controlroom", "new") == b"\x00\xff"
    assert vault.delete_blob("controlroom", "new") is True
    assert vault.get_blob("controlroom", "new") is None
    for kind in ("credential", "vault.keys", ""):
        with pytest.raises(ConfigError) as err:
            vault.put_blob(kind, "k", b"x")
        assert err.value.field == "kind"


def test_schema_is_created_by_alembic_and_matches_the_tables(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    Vault.open(path, actor="a").close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version_num FROM m365bot_vault_alembic_version").fetchall() \
            == [(HEAD_REVISION,)]
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"version_table": "m365bot_vault_alembic_version"})
        assert compare_metadata(ctx, metadata) == []
    engine.dispose()
    # Opening again is a no-op upgrade and keeps the data.
    with Vault.open(path, actor="a") as v:
        v.initialize(key=b"k" * 32)
        v.put_blob("t", "k", b"CANARY-keep")
    with Vault.open(path, actor="a") as v:
        v.unlock(key=b"k" * 32)
        assert v.get_blob("t", "k") == b"CANARY-keep"


def test_a_bot_reading_its_vault_never_imports_the_orm(tmp_path: Path) -> None:
    """The vault is SQLAlchemy Core only: importing sqlalchemy.orm would add about 100 ms to
    every bot's start-up, which opens the vault for its secret and its token cache."""
    path = tmp_path / "v.db"
    with Vault.open(path, actor="bot") as v:
        v.initialize(key=b"k" * 32)
        v.create_locker("bots")
        v.set_credential("bots", "o365", {"client_secret": AttributeSpec("CANARY-orm-s")})
        v.put_blob("token_cache", "k", b"CANARY-orm-t")
    code = ("import sys\n"
            "from m365bot.vault import Vault\n"
            f"with Vault.open({str(path)!r}, actor='bot') as v:\n"
            "    v.unlock(key=b'k' * 32)\n"
            "    assert v.get('bots', 'o365', 'client_secret').reveal() == 'CANARY-orm-s'\n"
            "    assert v.get_blob('token_cache', 'k') == b'CANARY-orm-t'\n"
            "print(sorted(m for m in sys.modules if m.startswith('sqlalchemy.orm')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_in_memory_or_bad_locations_are_refused(tmp_path: Path) -> None:
    for bad in ("sqlite://", "sqlite:///:memory:"):
        with pytest.raises(ConfigError) as err:
            Vault.open(bad, actor="a")
        assert err.value.field == "vault"
        assert err.value.advice == ("give --vault a file path, or a URL like "
                                    "postgresql+psycopg://user@host/db")
    with pytest.raises(ConfigError) as err:
        Vault.open(tmp_path / "v.db", actor="")
    assert err.value.field == "actor"


def test_the_schema_is_made_once_beside_the_control_rooms_tables(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # The Control Room server keeps its tables in the same SQLite file as its vault.
    path = tmp_path / "cr.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE cr_runs (id INTEGER)")
        db.execute("CREATE TABLE m365bot_controlroom_meta (id INTEGER)")
    caplog.set_level(logging.INFO, logger="m365bot.vault.store")
    for _ in range(2):
        Vault.open(path, actor="a").close()
    # Made at the first open; the second finds it at head and leaves it.
    assert [r.getMessage() for r in caplog.records if r.name == "m365bot.vault.store"] == [
        f"vault schema upgraded from empty to {HEAD_REVISION}"]


def test_deleting_one_blob_leaves_every_other_record_readable(vault: Vault) -> None:
    vault.put_blob("token_cache", "k", b"CANARY-t")
    vault.put_blob("controlroom", "k", b"CANARY-c")
    vault.put_blob("controlroom", "other", b"CANARY-o")
    assert vault.delete_blob("controlroom", "k") is True
    assert vault.delete_blob("controlroom", "k") is False
    assert vault.delete_blob("controlroom", "never") is False
    # Same key in another kind, and another key of the same kind, are untouched.
    assert vault.get_blob_with_version("token_cache", "k") == (b"CANARY-t", 1)
    assert vault.get_blob_with_version("controlroom", "other") == (b"CANARY-o", 1)
    assert vault.get_blob("controlroom", "k") is None
    # Written again after a delete, it starts over at version 1.
    assert vault.put_blob("controlroom", "k", b"CANARY-c2", if_version=0) == 1

"""The same vault schema and behaviour on a real PostgreSQL server (a database per run)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from m365bot.errors import VaultError, VaultIntegrityError
from m365bot.vault import AttributeSpec, Vault
from m365bot.vault.store import HEAD_REVISION


def _schema(url: str) -> dict[str, set[str]]:
    engine = create_engine(url)
    try:
        insp = inspect(engine)
        return {t: {c["name"] for c in insp.get_columns(t)} for t in insp.get_table_names()}
    finally:
        engine.dispose()


def test_same_schema_and_behaviour_on_postgresql(pg_url: str, tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="m365bot.vault.store")
    key = os.urandom(32)
    with Vault.open(pg_url, actor="alice") as v:
        assert v.path is None and v.storage_settings()["dialect"] == "postgresql"
        v.initialize(key=key)
        v.create_locker("bots")
        v.add_member("bots", "role:runners", "consumer")
        v.set_credential("bots", "o365", {"client_secret": AttributeSpec("CANARY-pg-1"),
                                          "password": AttributeSpec("CANARY-pg-2")})
        v.put_blob("token_cache", "k", b"CANARY-pg-blob")
        v.rotate_master_key(passphrase="CANARY-pg-pass")
        assert v.key_versions_in_use() == {2: 3}
    # Opening again runs no migration and sees the same data.
    with Vault.open(pg_url, actor="bot", roles=("runners",)) as v:
        with pytest.raises(VaultError, match="protected by a passphrase"):
            v.unlock(key=key)
        v.unlock(passphrase="CANARY-pg-pass")
        assert v.get("bots", "o365", "client_secret").reveal() == "CANARY-pg-1"
        assert v.get_blob("token_cache", "k") == b"CANARY-pg-blob"
        assert v.audit_log(limit=1)[0].actor == "bot"
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT id, ciphertext FROM vault_blobs "
                                 "WHERE kind='credential' ORDER BY id")).all()
        conn.execute(text("UPDATE vault_blobs SET ciphertext=:c WHERE id=:i"),
                     {"c": rows[0][1], "i": rows[1][0]})
        dump = conn.execute(text("SELECT string_agg(encode(ciphertext, 'escape'), '') "
                                 "FROM vault_blobs")).scalar()
    engine.dispose()
    assert "CANARY-pg" not in dump
    with Vault.open(pg_url, actor="alice") as v:
        v.unlock(passphrase="CANARY-pg-pass")
        with pytest.raises(VaultIntegrityError):
            v.get("bots", "o365", "password")
    # The schema was made at the first open; the later opens found it at head.
    assert [r.getMessage() for r in caplog.records if r.name == "m365bot.vault.store"] == [
        f"vault schema upgraded from empty to {HEAD_REVISION}"]
    # The schema is the same one SQLite gets.
    sqlite_path = tmp_path / "v.db"
    Vault.open(sqlite_path, actor="a").close()
    assert _schema(pg_url) == _schema(f"sqlite:///{sqlite_path}")


def test_the_migrated_schema_on_postgresql_matches_the_tables(pg_url: str) -> None:
    # The SQLite twin is in test_blobs_and_schema.py: types, indexes and constraints that
    # only PostgreSQL enforces differ there first.
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from m365bot.vault.models import metadata

    Vault.open(pg_url, actor="a").close()
    engine = create_engine(pg_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"version_table": "m365bot_vault_alembic_version"})
            assert compare_metadata(ctx, metadata) == []
    finally:
        engine.dispose()

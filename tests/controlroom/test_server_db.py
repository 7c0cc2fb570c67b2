"""The Control Room database on SQLite and on real PostgreSQL: migrations, the append-only
audit log, lockout counted in the database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import delete, text, update

from m365bot.controlroom import accounts, audit
from m365bot.controlroom.accounts import Lockout
from m365bot.controlroom.db import Database, current_revision, engine_for, head_revision, users
from m365bot.controlroom.db import audit as audit_table
from m365bot.controlroom.errors import Conflict, DatabaseUnavailable, SignInRefused

PASSWORD = "CANARY-db-pass-445566"


def test_migrate_command_creates_then_reports_current(cr_db_any: str) -> None:
    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "m365bot", "controlroom", "migrate",
                               "--db", cr_db_any], capture_output=True, text=True, timeout=60)

    first = run()
    assert first.returncode == 0, first.stderr
    head = head_revision()  # cr0003 since client secrets kept in the Credential Vault
    assert head == "cr0003"
    assert f"upgraded from empty to revision {head}" in first.stdout
    second = run()
    assert second.returncode == 0 and f"is current (revision {head})" in second.stdout
    engine = engine_for(cr_db_any)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_audit_rows_cannot_be_updated_or_deleted(cr_db_any: str) -> None:
    db = Database.open(cr_db_any)
    try:
        audit.record(db, action="signin", actor="alice", ip="10.1.2.3")
        for stmt in (update(audit_table).values(actor="mallory"), delete(audit_table)):
            with pytest.raises(DatabaseUnavailable, match="append-only"), \
                    db.write() as conn:
                conn.execute(stmt)
        if db.dialect == "postgresql":
            with pytest.raises(DatabaseUnavailable, match="append-only"), \
                    db.write() as conn:
                conn.execute(text("TRUNCATE cr_audit"))
        rows = audit.query(db)
        assert [(r.actor, r.action, r.ip) for r in rows] == [("alice", "signin", "10.1.2.3")]
    finally:
        db.dispose()


def test_audit_query_filters_and_strips_control_characters(cr_db_any: str) -> None:
    db = Database.open(cr_db_any)
    try:
        audit.record(db, action="signin.failed", actor="eve\nforged line", ip="10.0.0.9")
        audit.record(db, action="signin", actor="alice", target="web")
        audit.record(db, action="apikey.create", actor="admin", target="runner-1")
        assert {r.action for r in audit.query(db, action="signin")} == {"signin",
                                                                          "signin.failed"}
        assert [r.target for r in audit.query(db, target="runner")] == ["runner-1"]
        assert [r.actor for r in audit.query(db, action="signin.failed")] == [
            "eve?forged line"]
    finally:
        db.dispose()


def test_lockout_counts_failures_in_the_database_and_backs_off(cr_db_any: str) -> None:
    db = Database.open(cr_db_any)
    policy = Lockout(threshold=2, base=30, maximum=60)
    try:
        accounts.create_user(db, "bob", PASSWORD, by="test")
        for _ in range(2):
            with pytest.raises(SignInRefused) as wrong:
                accounts.authenticate(db, "bob", "wrong password!", lockout=policy)
            assert wrong.value.status == 401
        with pytest.raises(SignInRefused) as locked:
            accounts.authenticate(db, "bob", PASSWORD, lockout=policy)
        assert locked.value.status == 429 and 1 <= locked.value.retry_after <= 31
        assert policy.seconds(3) == 60 and policy.seconds(10) == 60  # doubled, capped
        accounts.update_user(db, "bob", by="admin", unlock=True)
        assert accounts.authenticate(db, "bob", PASSWORD, lockout=policy).name == "bob"
        assert accounts.get_user(db, "bob").locked_until is None
    finally:
        db.dispose()


def test_a_name_taken_meanwhile_is_a_conflict_not_a_crash(cr_db_any: str) -> None:
    db = Database.open(cr_db_any)
    try:
        accounts.create_user(db, "bob", PASSWORD, by="test")
        # As if another process inserted "bob" between our check and our insert.
        with pytest.raises(Conflict, match="saved first"), db.write() as conn:
            conn.execute(users.insert().values(
                name="bob", password_hash="x", is_admin=False, disabled=False, failed_count=0,
                created_at=accounts.now(), created_by="test"))
        assert [u.name for u in accounts.list_users(db)] == ["bob"]
    finally:
        db.dispose()


def test_a_sqlite_file_replaced_under_the_server_is_read_afresh(tmp_path: Path) -> None:
    """SQLite connections are pooled; one opened on the old file must not keep answering
    from it once a restored copy sits at the path (nor from a file overwritten in place)."""
    live, restored = tmp_path / "cr.db", tmp_path / "restore.db"
    other = Database.open(restored)
    accounts.create_user(other, "restored", PASSWORD, by="test")
    other.dispose()
    db = Database.open(live)
    try:
        accounts.create_user(db, "live", PASSWORD, by="test")
        for _ in range(3):  # the pool now holds connections opened on the live file
            assert [u.name for u in accounts.list_users(db)] == ["live"]
        for extra in ("-wal", "-shm"):
            Path(f"{live}{extra}").unlink(missing_ok=True)
        os.replace(restored, live)
        assert [u.name for u in accounts.list_users(db)] == ["restored"]
        for extra in ("-wal", "-shm"):
            Path(f"{live}{extra}").unlink(missing_ok=True)
        live.write_bytes(b"overwritten" * 1000)
        with pytest.raises(DatabaseUnavailable):
            accounts.list_users(db)
    finally:
        db.dispose()


def test_the_migrated_schema_matches_the_tables_the_code_uses(cr_db_any: str) -> None:
    # A migration that forgets a column, an index or a constraint the tables declare (or
    # declares one the code no longer has) shows here, on SQLite and on PostgreSQL alike.
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from m365bot.controlroom import oauth_tables  # noqa: F401  (its tables join the metadata)
    from m365bot.controlroom.db import VERSION_TABLE, metadata, migrate

    engine = engine_for(cr_db_any)
    try:
        migrate(engine)
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            assert compare_metadata(ctx, metadata) == []
    finally:
        engine.dispose()

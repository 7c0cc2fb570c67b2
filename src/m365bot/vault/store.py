"""The vault's database: engine set-up, SQLite durability settings, schema migrations.

SQLite (the default) runs in WAL mode with ``synchronous=FULL`` and a busy timeout, set on
every connection; write transactions start with ``BEGIN IMMEDIATE`` so concurrent writers
queue instead of failing. The same tables run on PostgreSQL.

Example::

    from m365bot.vault.store import open_engine, default_vault_path
    engine = open_engine(str(default_vault_path({"M365BOT_HOME": "/tmp/x"})))
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from m365bot.errors import VaultError
from m365bot.vault.paths import (
    HEAD_REVISION,
    SQLITE_PRAGMAS,
    VERSION_TABLE,
    db_error,
    default_data_dir,
    default_vault_path,
    prepare_sqlite_file,
    to_url,
)

log = logging.getLogger(__name__)

READ_ONLY = "m365bot_vault_read_only"
_MIGRATIONS = Path(__file__).with_name("migrations")


def open_engine(url_or_path: str | os.PathLike[str]) -> tuple[Engine, Path | None]:
    """An engine for the vault with the durability settings applied on every connection."""
    url, path = to_url(url_or_path)
    if path is None:
        # hide_parameters: SQL logging (a DEBUG root logger enables it) never shows bound
        # values, even though they are only ciphertext and names.
        engine = create_engine(url, pool_pre_ping=True, hide_parameters=True)
        return engine, None
    prepare_sqlite_file(path)
    engine = create_engine(url, poolclass=NullPool, hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # Take transactions out of pysqlite's hands so BEGIN IMMEDIATE is ours to issue.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        for pragma in SQLITE_PRAGMAS:
            cur.execute(pragma)
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock up front (no deadlock-prone lock upgrade); readers
        # start a plain snapshot and never wait for writers (WAL).
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine, path


def _current_revision(conn: Connection) -> str | None:
    """The schema revision, or None for an empty database. A damaged file raises here."""
    if conn.dialect.name == "postgresql":
        # A failed probe would abort the transaction on PostgreSQL: look it up instead.
        exists = conn.execute(text("SELECT to_regclass(:t)"), {"t": VERSION_TABLE}).scalar()
    else:
        exists = conn.execute(
            text("SELECT name FROM sqlite_master WHERE type='table' AND name=:t"),
            {"t": VERSION_TABLE},
        ).scalar()
    if not exists:
        return None
    row = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).first()
    return str(row[0]) if row else None


def migrate(engine: Engine) -> None:
    """Create or upgrade the schema to head with alembic; a no-op (one query) when current."""
    with engine.execution_options(**{READ_ONLY: True}).connect() as conn:
        current = _current_revision(conn)
        conn.rollback()
    if current == HEAD_REVISION:
        return
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Serialize first opens across processes (SQLite has BEGIN IMMEDIATE).
                conn.execute(text("SELECT pg_advisory_xact_lock(736523189)"))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except SQLAlchemyError as exc:
        raise VaultError(
            f"cannot create or upgrade the vault schema ({type(exc).__name__})",
            advice="check that the vault file or database is writable and not corrupt",
        ) from None
    log.info("vault schema upgraded from %s to %s", current or "empty", HEAD_REVISION)


__all__ = [
    "HEAD_REVISION",
    "db_error",
    "default_data_dir",
    "default_vault_path",
    "migrate",
    "open_engine",
    "to_url",
]

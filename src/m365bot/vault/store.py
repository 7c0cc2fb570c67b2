"""The vault's one storage path: a SQLAlchemy engine on SQLite or PostgreSQL, its
durability settings, schema migrations, and transactions.

Writers never interleave, on either database. On SQLite (the default, WAL mode,
``synchronous=FULL``, a busy timeout) a write transaction starts with ``BEGIN IMMEDIATE``;
on PostgreSQL it starts by taking the vault's transaction-level advisory lock. Either way
a writer sees every write committed before it, so a read-check-write (compare-and-set,
"create if absent", "keep one owner") is atomic, and concurrent writers queue instead of
failing. Readers take one snapshot for the whole transaction (WAL; REPEATABLE READ on
PostgreSQL) and never wait.

Example::

    from sqlalchemy import select
    from m365bot.vault.models import lockers
    from m365bot.vault.store import Store
    store = Store.open("/tmp/x/vault.db")
    with store.tx("reading", write=False) as conn:
        conn.execute(select(lockers.c.name)).scalars().all()
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from m365bot.errors import ConfigError, M365BotError, VaultError
from m365bot.vault.paths import (
    HEAD_REVISION,
    SQLITE_PRAGMAS,
    VERSION_TABLE,
    database_url,
    db_error,
    default_data_dir,
    default_vault_path,
    prepare_sqlite_file,
)

log = logging.getLogger(__name__)

READ_ONLY = "m365bot_vault_read_only"
# The PostgreSQL advisory lock every vault writer (and the schema migration) holds until
# its transaction ends: PostgreSQL's counterpart of SQLite's BEGIN IMMEDIATE.
WRITE_LOCK_ID = 736523189
_MIGRATIONS = Path(__file__).with_name("migrations")


def _bad_location(reason: str) -> ConfigError:
    return ConfigError(
        f"the vault location given to --vault is not usable ({reason})",
        field="vault",
        advice="give --vault a file path, or a URL like postgresql+psycopg://user@host/db",
    )


def open_engine(url_or_path: str | os.PathLike[str]) -> tuple[Engine, Path | None]:
    """An engine for the vault with the durability settings and write lock on every
    connection, and the SQLite file path (None for a server)."""
    url, path = database_url(url_or_path, _bad_location)
    if path is not None:
        prepare_sqlite_file(path)
    try:
        # hide_parameters: SQL logging (a DEBUG root logger enables it) never shows bound
        # values, even though they are only ciphertext and names.
        if path is None:
            engine = create_engine(url, pool_pre_ping=True, hide_parameters=True)
        else:
            engine = create_engine(url, poolclass=NullPool, hide_parameters=True)
    except NoSuchModuleError:
        raise _bad_location(f"no database driver for {url.split('://', 1)[0]}://") from None
    except (ArgumentError, ImportError, ValueError) as exc:
        raise _bad_location(type(exc).__name__) from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", sqlite_on_connect)
        event.listen(engine, "begin", sqlite_on_begin)
    elif engine.dialect.name == "postgresql":
        event.listen(engine, "begin", _postgresql_on_begin)
    else:
        engine.dispose()
        raise _bad_location(f"{engine.dialect.name} is not supported; use SQLite or "
                            "PostgreSQL")
    return engine, path


def sqlite_on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    # Take transactions out of pysqlite's hands so BEGIN IMMEDIATE is ours to issue.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    for pragma in SQLITE_PRAGMAS:
        cur.execute(pragma)
    cur.close()


def sqlite_on_begin(conn: Connection) -> None:
    # Writers take the write lock up front (no deadlock-prone lock upgrade); readers
    # start a plain snapshot and never wait for writers (WAL).
    if conn.get_execution_options().get(READ_ONLY):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _postgresql_on_begin(conn: Connection) -> None:
    # READ COMMITTED: once the lock is ours, every statement sees what earlier writers
    # committed, so the writer's reads and checks are current.
    if not conn.get_execution_options().get(READ_ONLY):
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_ID})")


def _current_revision(conn: Connection) -> str | None:
    """The schema revision, or None for an empty database. A damaged file raises here;
    a SQLite file that holds another program's tables is refused."""
    if conn.dialect.name == "postgresql":
        # A failed probe would abort the transaction on PostgreSQL: look it up instead.
        exists = conn.execute(text("SELECT to_regclass(:t)"), {"t": VERSION_TABLE}).scalar()
    else:
        names = {str(n) for n in conn.execute(
            text("SELECT name FROM sqlite_master WHERE type='table'")).scalars()}
        exists = VERSION_TABLE in names
        # The Control Room server keeps its own tables (cr_*) in the same database.
        others = {n for n in names if not n.startswith(("cr_", "m365bot_controlroom_"))}
        if not exists and others:
            raise ConfigError(
                "the file given to --vault is another program's SQLite database, not a vault",
                field="vault", advice="give --vault the path of a vault file, or a new path")
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
        with engine.begin() as conn:  # a writer: concurrent first opens queue
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except SQLAlchemyError as exc:
        raise VaultError(
            f"cannot create or upgrade the vault schema ({type(exc).__name__})",
            advice="check that the vault file or database is writable and not corrupt",
        ) from None
    log.info("vault schema upgraded from %s to %s", current or "empty", HEAD_REVISION)


class Store:
    """The vault's database: one engine, its schema kept at head, and transactions."""

    def __init__(self, engine: Engine, path: Path | None) -> None:
        self.engine = engine
        self.path = path
        reader: dict[str, Any] = {READ_ONLY: True}
        if engine.dialect.name == "postgresql":
            # One snapshot for the whole read (a record and the manifest that pins it),
            # as SQLite's WAL readers get.
            reader["isolation_level"] = "REPEATABLE READ"
        self._reader = engine.execution_options(**reader)

    @classmethod
    def open(cls, url_or_path: str | os.PathLike[str]) -> Store:
        """Open the database at a path or URL, creating or upgrading its schema."""
        engine, path = open_engine(url_or_path)
        try:
            migrate(engine)
        except M365BotError:
            engine.dispose()
            raise
        except SQLAlchemyError as exc:
            engine.dispose()
            raise db_error(exc, "opening the vault") from None
        return cls(engine, path)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def dispose(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    @contextmanager
    def tx(self, doing: str, *, write: bool = True) -> Iterator[Connection]:
        """A transaction: writers hold the vault's write lock until it ends; readers see
        a snapshot. It commits when the block ends and rolls back on an error. A database
        failure becomes a VaultError that says what was being done."""
        bind = self.engine if write else self._reader
        try:
            with bind.begin() as conn:
                yield conn
        except M365BotError:
            raise
        except SQLAlchemyError as exc:
            raise db_error(exc, doing) from None

    def storage_settings(self) -> dict[str, str]:
        """The durability settings a vault connection really runs with (SQLite: journal
        mode, synchronous level (2 = FULL), busy timeout in ms; PostgreSQL: server version)."""
        with self.engine.connect() as conn:
            if conn.dialect.name != "sqlite":
                return {"dialect": conn.dialect.name,
                        "server_version": str(conn.exec_driver_sql("SHOW server_version")
                                              .scalar())}
            return {"dialect": "sqlite"} | {
                name: str(conn.exec_driver_sql(f"PRAGMA {name}").scalar())
                for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
            }


__all__ = [
    "HEAD_REVISION",
    "READ_ONLY",
    "Store",
    "db_error",
    "default_data_dir",
    "default_vault_path",
    "migrate",
    "open_engine",
]

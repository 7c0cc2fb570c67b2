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
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from m365bot.errors import ConfigError, VaultError

log = logging.getLogger(__name__)

HEAD_REVISION = "0001"
VERSION_TABLE = "m365bot_vault_alembic_version"
BUSY_TIMEOUT_MS = 30_000
READ_ONLY = "m365bot_vault_read_only"
_MIGRATIONS = Path(__file__).with_name("migrations")


def default_data_dir(environ: dict[str, str] | os._Environ[str]) -> Path:
    """``$M365BOT_HOME``, else ``$XDG_DATA_HOME/m365bot``, else ``~/.local/share/m365bot``."""
    home = environ.get("M365BOT_HOME")
    if home:
        return Path(home).expanduser()
    xdg = environ.get("XDG_DATA_HOME")
    if xdg:
        return Path(xdg).expanduser() / "m365bot"
    return Path.home() / ".local" / "share" / "m365bot"


def default_vault_path(environ: dict[str, str] | os._Environ[str]) -> Path:
    """``<data_dir>/vault.db``."""
    return default_data_dir(environ) / "vault.db"


def to_url(url_or_path: str | os.PathLike[str]) -> tuple[str, Path | None]:
    """A SQLAlchemy URL for a path or URL, and the SQLite file path (None for servers)."""
    raw = os.fspath(url_or_path)
    if "://" not in raw:
        path = Path(raw).expanduser().resolve()
        return f"sqlite+pysqlite:///{path}", path
    try:
        url = make_url(raw)
    except Exception:
        raise ConfigError(
            "the vault location is not a valid database URL or path",
            field="vault",
            advice="give a file path, or a URL like postgresql+psycopg://user@host/db",
        ) from None
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ConfigError(
                "an in-memory SQLite vault would lose every secret",
                field="vault",
                advice="give a file path",
            )
        path = Path(url.database).expanduser().resolve()
        return f"sqlite+pysqlite:///{path}", path
    return raw, None


def _prepare_sqlite_file(path: Path) -> None:
    """Create the data folder 0700 and the database file 0600 before SQLite touches them."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    if os.name == "posix":
        os.chmod(path, 0o600)
    # SQLite's unix VFS gives the -wal and -shm files the database file's mode (0600).


def open_engine(url_or_path: str | os.PathLike[str]) -> tuple[Engine, Path | None]:
    """An engine for the vault with the durability settings applied on every connection."""
    url, path = to_url(url_or_path)
    if path is None:
        engine = create_engine(url, pool_pre_ping=True)
        return engine, None
    _prepare_sqlite_file(path)
    engine = create_engine(url, poolclass=NullPool)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # Take transactions out of pysqlite's hands so BEGIN IMMEDIATE is ours to issue.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit survives power loss; under NORMAL a rotated refresh token or a
        # new secret could silently roll back.
        cur.execute("PRAGMA synchronous = FULL")
        cur.execute("PRAGMA foreign_keys = ON")
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


def db_error(exc: Exception, doing: str) -> VaultError:
    """A clear VaultError for a database failure; never includes parameters (values)."""
    orig = getattr(exc, "orig", None) or exc
    kind = type(orig).__name__
    msg = str(orig).splitlines()[0] if str(orig) else kind
    if "not a database" in msg or "malformed" in msg:
        return VaultError(
            f"the vault file is damaged ({msg}) while {doing}",
            advice="restore the vault file from a backup",
        )
    if "locked" in msg or "busy" in msg:
        return VaultError(
            f"the vault stayed busy while {doing}",
            advice="another process holds the vault for a long time; try again",
        )
    return VaultError(f"the vault database failed while {doing}: {kind}: {msg}")


__all__ = [
    "HEAD_REVISION",
    "db_error",
    "default_data_dir",
    "default_vault_path",
    "migrate",
    "open_engine",
    "to_url",
]

"""The Control Room server's database: its tables, one engine per URL, migrations, and
transactions. SQLite (a file under the data folder) by default, PostgreSQL for teams.

Every piece of state the web app and the API use lives here (users, roles, API keys,
web sessions, the audit log), so several server processes on one or several machines
can share one PostgreSQL: nothing breaks when a user's requests land on different
processes.

Writers never interleave on SQLite: a write transaction starts with ``BEGIN IMMEDIATE``
(WAL mode, ``synchronous=FULL``, a busy timeout), so a read-check-write inside
:meth:`Database.write` is atomic. On PostgreSQL take a row lock (``SELECT ... FOR UPDATE``)
or ``pg_advisory_xact_lock`` inside the transaction where one is needed.

Example::

    from m365bot.controlroom.db import Database, users
    db = Database.open("postgresql+psycopg://cr@db.corp/controlroom")   # or a file path
    with db.write() as conn:
        conn.execute(users.insert().values(...))
    with db.read() as conn:
        conn.execute(select(users.c.name)).scalars().all()
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import (
    ArgumentError,
    DisconnectionError,
    IntegrityError,
    NoSuchModuleError,
    SQLAlchemyError,
)

from m365bot.config import data_dir_from_env
from m365bot.controlroom.errors import Conflict, DatabaseUnavailable
from m365bot.errors import ConfigError, M365BotError
from m365bot.vault.paths import database_url
from m365bot.vault.store import READ_ONLY, sqlite_on_begin, sqlite_on_connect

log = logging.getLogger(__name__)

VERSION_TABLE = "m365bot_controlroom_alembic_version"
# Held by `migrate` on PostgreSQL so two servers starting at once do not race.
MIGRATE_LOCK_ID = 736523190
_MIGRATIONS = Path(__file__).with_name("migrations")
_TS = DateTime(timezone=True)

metadata = MetaData()

users = Table(
    "cr_users", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),  # argon2id, PHC string
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("failed_count", Integer, nullable=False, default=0),
    Column("locked_until", _TS, nullable=True),
    Column("created_at", _TS, nullable=False),
    Column("created_by", String(200), nullable=False),
)

roles = Table(
    "cr_roles", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", _TS, nullable=False),
)

user_roles = Table(
    "cr_user_roles", metadata,
    Column("user_id", Integer, ForeignKey("cr_users.id", ondelete="CASCADE"),
           primary_key=True),
    Column("role_id", Integer, ForeignKey("cr_roles.id", ondelete="CASCADE"),
           primary_key=True),
)

api_keys = Table(
    "cr_api_keys", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),  # the runner's name
    Column("prefix", String(32), nullable=False, unique=True),  # shown; looks the key up
    Column("key_hash", String(128), nullable=False),  # SHA-256 of the secret part
    Column("run_as", String(200), nullable=False),  # the user the runner's bots run as
    Column("bots", Text, nullable=False),  # bot names it may run, one a line; "*" = any
    Column("roles", Text, nullable=False),  # role names it acts with, one a line
    Column("created_at", _TS, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("revoked_at", _TS, nullable=True),
    Column("last_used_at", _TS, nullable=True),
)

web_sessions = Table(
    "cr_web_sessions", metadata,
    Column("id_hash", String(64), primary_key=True),  # SHA-256 of the cookie value
    Column("user_id", Integer, ForeignKey("cr_users.id", ondelete="CASCADE"),
           nullable=False, index=True),  # cr0001 made it: a user is signed out by user_id
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", _TS, nullable=False),
    Column("last_seen", _TS, nullable=False),
    Column("expires_at", _TS, nullable=False),
    Column("ip", String(64), nullable=False, default=""),
)

audit = Table(
    "cr_audit", metadata,
    Column("id", Integer, primary_key=True),
    Column("at", _TS, nullable=False, index=True),
    Column("actor", String(200), nullable=False),  # user name, "key:NAME", or "-"
    Column("action", String(60), nullable=False, index=True),
    Column("target", String(500), nullable=False),
    Column("outcome", String(40), nullable=False),
    Column("ip", String(64), nullable=False),
    Column("detail", Text, nullable=False),
)


def default_db_path(environ: Mapping[str, str]) -> Path:
    """``<data dir>/controlroom.db`` (the data folder rule is
    :func:`m365bot.config.data_dir_from_env`)."""
    return data_dir_from_env(environ) / "controlroom.db"


def _bad_url(reason: str) -> ConfigError:
    return ConfigError(f"the Control Room database given to --db is not usable ({reason})",
                       field="--db", advice="give --db a file path, or a URL like "
                       "postgresql+psycopg://user@host/controlroom")


def engine_for(url_or_path: str | os.PathLike[str]) -> Engine:
    """An engine for a file path or URL with the durability settings on every connection.

    Example::

        engine_for("/srv/cr/controlroom.db")
        engine_for("postgresql+psycopg://cr@127.0.0.1/controlroom")
    """
    url, path = database_url(url_or_path, _bad_url)
    if path is not None:
        if path.is_dir():
            raise _bad_url(f"{path} is a folder")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
    try:
        # hide_parameters: SQL logging never shows bound values (hashes, addresses).
        # SQLite connections are pooled too (opening one, with its pragmas, was most of a
        # cached token broker call); a pooled one is used only while the file it opened
        # is still the file at the path (see _FileIdentity).
        engine = create_engine(url, pool_pre_ping=path is None, hide_parameters=True,
                               pool_size=10, max_overflow=20)
    except NoSuchModuleError:
        raise _bad_url(f"no database driver for {url.split('://', 1)[0]}://") from None
    except (ArgumentError, ImportError, ValueError) as exc:
        raise _bad_url(type(exc).__name__) from None
    if path is not None:
        identity = _FileIdentity(path)
        event.listen(engine, "connect", identity.on_connect)
        event.listen(engine, "checkout", identity.on_checkout)
        event.listen(engine, "begin", sqlite_on_begin)
    return engine


class _FileIdentity:
    """Keeps a pooled SQLite connection from serving a database file that was replaced
    under it (a restored backup, a file overwritten or deleted, its ``-shm`` removed).

    SQLite cannot notice that: a connection keeps its open file and its mapped ``-shm``
    wal-index, sees no change there, and goes on answering from its page cache. So each
    connection remembers what the path pointed at when it was opened (device, inode and
    modification time of the file, device and inode of its ``-shm``), and a checkout
    that finds anything else there discards the connection and opens a new one, which
    then meets the file as it is now (a damaged file: 503). A checkpoint also moves the
    file's modification time: that costs one reconnect, never a stale answer. Three
    ``stat`` calls a checkout (microseconds) against a reconnect's milliseconds.
    """

    KEY = "m365bot_cr_file"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.shm = Path(f"{path}-shm")

    def now(self) -> tuple[object, ...]:
        """What the path and its ``-shm`` point at now."""
        parts: list[object] = []
        for p, with_time in ((self.path, True), (self.shm, False)):
            try:
                st = p.stat()
            except OSError:
                parts.append(None)
                continue
            parts.append((st.st_dev, st.st_ino, st.st_mtime_ns if with_time else 0))
        return tuple(parts)

    def on_connect(self, dbapi_conn: sqlite3.Connection, record: Any) -> None:
        sqlite_on_connect(dbapi_conn, record)  # the pragmas open the file and its -shm
        record.info[self.KEY] = self.now()

    def on_checkout(self, _dbapi_conn: sqlite3.Connection, record: Any, _proxy: Any) -> None:
        if record.info.get(self.KEY) != self.now():
            # The pool closes this connection and checks out a new one.
            raise DisconnectionError("the database file was replaced or changed outside")




def _alembic_config() -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


def head_revision() -> str:
    """The newest migration's revision id (``cr0003`` today)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    return str(head)


def current_revision(engine: Engine) -> str | None:
    """The database's schema revision, or None for an empty database."""
    with engine.execution_options(**{READ_ONLY: True}).connect() as conn:
        if conn.dialect.name == "postgresql":
            exists = conn.execute(text("SELECT to_regclass(:t)"),
                                  {"t": VERSION_TABLE}).scalar() is not None
        else:
            exists = conn.execute(text("SELECT 1 FROM sqlite_master WHERE type='table' "
                                       "AND name=:t"), {"t": VERSION_TABLE}).first() is not None
        row = (conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).first()
               if exists else None)
        conn.rollback()
    return str(row[0]) if row else None


def migrate(engine: Engine) -> tuple[str | None, str]:
    """Create or upgrade the schema to the newest revision with alembic; returns
    (revision before, revision after). A no-op when current.

    Example::

        migrate(engine_for("/srv/cr/controlroom.db"))   # (None, 'cr0003')
    """
    from alembic import command

    before = current_revision(engine)
    head = head_revision()
    if before == head:
        return before, head
    cfg = _alembic_config()
    try:
        with engine.begin() as conn:  # a writer: concurrent first starts queue
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATE_LOCK_ID})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except SQLAlchemyError as exc:
        raise M365BotError(
            f"cannot create or upgrade the Control Room database ({type(exc).__name__})",
            advice="check that the database is reachable, writable and not another "
            "program's") from None
    log.info("controlroom schema upgraded from %s to %s", before or "empty", head)
    return before, head


def _unique_violation(exc: IntegrityError) -> bool:
    # PostgreSQL: SQLSTATE 23505; SQLite: "UNIQUE constraint failed" (a trigger's RAISE
    # is an IntegrityError too, and is no conflict).
    orig = exc.orig
    return getattr(orig, "sqlstate", None) == "23505" or "UNIQUE constraint" in str(orig)


def _unavailable(exc: SQLAlchemyError) -> DatabaseUnavailable:
    # The driver's first line only: statements' parameters are never shown
    # (hide_parameters), and no value of the vault is in these tables anyway.
    orig = getattr(exc, "orig", None) or exc
    first = str(orig).splitlines()[0][:200] if str(orig) else type(orig).__name__
    return DatabaseUnavailable(f"the Control Room database refused the change ({first})",
                               advice="try again; if it keeps failing, tell the "
                               "administrator (the database may be down or full)")


class Database:
    """The server's database: an engine whose schema is at the newest revision, and
    read and write transactions.

    Example::

        db = Database.open(path_or_url)
        with db.read() as conn:
            ...
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        reader: dict[str, Any] = {READ_ONLY: True}
        self._reader = engine.execution_options(**reader)

    @classmethod
    def open(cls, url_or_path: str | os.PathLike[str], *, upgrade: bool = True) -> Database:
        """Open the database; with ``upgrade`` (the default) bring its schema to the
        newest revision first, else refuse a database that is not current."""
        engine = engine_for(url_or_path)
        try:
            if upgrade:
                migrate(engine)
            else:
                current, head = current_revision(engine), head_revision()
                if current != head:
                    raise M365BotError(
                        f"the Control Room database is at revision {current or 'none'}, "
                        f"not {head}", advice="run 'm365bot controlroom migrate --db ...'")
        except SQLAlchemyError as exc:
            engine.dispose()
            raise _bad_url(f"cannot connect: {type(exc).__name__}") from None
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (SQLite: ``BEGIN IMMEDIATE``, writers queue). A unique name
        taken meanwhile by another process becomes Conflict (409); any other database
        failure DatabaseUnavailable (503). Either way the transaction is rolled back."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except IntegrityError as exc:
            if not _unique_violation(exc):
                raise _unavailable(exc) from None
            raise Conflict("another change to the same name was saved first",
                           field="name", advice="reload the page and try again") from None
        except SQLAlchemyError as exc:
            raise _unavailable(exc) from None

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (a snapshot; never waits for writers on SQLite)."""
        try:
            with self._reader.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise _unavailable(exc) from None

    def dispose(self) -> None:
        """Release the database connections."""
        self.engine.dispose()


__all__ = [
    "VERSION_TABLE",
    "Database",
    "api_keys",
    "audit",
    "current_revision",
    "default_db_path",
    "engine_for",
    "head_revision",
    "metadata",
    "migrate",
    "roles",
    "user_roles",
    "users",
    "web_sessions",
]

"""Where the vault lives, without importing SQLAlchemy: default paths, URL/path parsing,
and creating the SQLite file with safe permissions.

Example::

    from m365bot.vault.paths import default_vault_path
    default_vault_path({"M365BOT_HOME": "/srv/bot"})   # PosixPath('/srv/bot/vault.db')
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from m365bot.config import data_dir_from_env
from m365bot.errors import ConfigError, VaultError

HEAD_REVISION = "0001"
VERSION_TABLE = "m365bot_vault_alembic_version"
BUSY_TIMEOUT_MS = 30_000
# Applied to every SQLite connection by the engine's connect event.
# FULL: a commit survives power loss; under NORMAL a rotated refresh token or a new secret
# could silently roll back.
SQLITE_PRAGMAS = (
    f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA foreign_keys = ON",
)


def default_data_dir(environ: Mapping[str, str]) -> Path:
    """The data folder (the rule is :func:`m365bot.config.data_dir_from_env`)."""
    return data_dir_from_env(environ)


def default_vault_path(environ: Mapping[str, str]) -> Path:
    """``<data_dir>/vault.db``."""
    return default_data_dir(environ) / "vault.db"


def database_url(url_or_path: str | os.PathLike[str],
                 bad: Callable[[str], ConfigError]) -> tuple[str, Path | None]:
    """A SQLAlchemy URL for a file path or a URL, and the SQLite file (None for a server).
    The stores (the vault, the Control Room) run on SQLite or PostgreSQL: anything else is
    refused with ``bad(reason)``, the store's own error.

    Example::

        database_url("~/bot/vault.db", bad)   # ('sqlite+pysqlite:////home/me/bot/vault.db', ...)
    """
    raw = os.fspath(url_or_path)
    if "://" not in raw:
        path = Path(raw).expanduser().resolve()
        return f"sqlite+pysqlite:///{path}", path
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(raw)
    except (ArgumentError, ValueError):
        raise bad("not a database URL") from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise bad("an in-memory database is lost, with everything in it, when the "
                      "process ends")
        path = Path(url.database).expanduser().resolve()
        return f"sqlite+pysqlite:///{path}", path
    if backend != "postgresql":
        raise bad(f"{backend} is not supported; use SQLite or PostgreSQL")
    return raw, None


SQLITE_HEADER = b"SQLite format 3\x00"


def prepare_sqlite_file(path: Path) -> None:
    """Create the data folder 0700 and the database file 0600 before SQLite touches them.

    Only what the vault creates gets those modes: an existing file is left as it is, and
    a folder or a file that is not a SQLite database at ``path`` is refused (ConfigError).
    SQLite's unix VFS gives the -wal and -shm files the database file's mode.
    """
    if path.is_dir():
        raise ConfigError(
            f"--vault {path} is a folder, not a vault file", field="vault",
            advice=f"give --vault a file path, for example {path / 'vault.db'}")
    if path.exists():
        try:
            with path.open("rb") as f:
                head = f.read(len(SQLITE_HEADER))
        except OSError as exc:
            raise ConfigError(f"cannot read --vault {path}: {exc.strerror}", field="vault",
                              advice="check the path and its permissions") from None
        if head and head != SQLITE_HEADER:
            raise ConfigError(
                f"--vault {path} is not a vault file: it is not a SQLite database (if it "
                "was your vault, the vault file is damaged)", field="vault",
                advice="give --vault the path of a vault file or a new path; restore a "
                "damaged vault file from a backup")
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:  # another process created it first
        return
    except OSError as exc:
        raise ConfigError(f"cannot create the vault file {path}: {exc.strerror}",
                          field="vault", advice="check the folder exists and is writable"
                          ) from None
    os.close(fd)


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
    "SQLITE_PRAGMAS",
    "database_url",
    "db_error",
    "default_data_dir",
    "default_vault_path",
    "prepare_sqlite_file",
]

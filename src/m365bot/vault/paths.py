"""Where the vault lives, without importing SQLAlchemy: default paths, URL/path parsing,
and creating the SQLite file with safe permissions.

Example::

    from m365bot.vault.paths import default_vault_path
    default_vault_path({"M365BOT_HOME": "/srv/bot"})   # PosixPath('/srv/bot/vault.db')
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from m365bot.config import data_dir_from_env
from m365bot.errors import ConfigError, VaultError

HEAD_REVISION = "0001"
VERSION_TABLE = "m365bot_vault_alembic_version"
BUSY_TIMEOUT_MS = 30_000
# Applied to every SQLite connection, by SQLAlchemy's connect event and by the lite path.
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


def to_url(url_or_path: str | os.PathLike[str]) -> tuple[str, Path | None]:
    """A SQLAlchemy URL for a path or URL, and the SQLite file path (None for servers)."""
    raw = os.fspath(url_or_path)
    if "://" not in raw:
        path = Path(raw).expanduser().resolve()
        return f"sqlite+pysqlite:///{path}", path
    from sqlalchemy.engine import make_url

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


def prepare_sqlite_file(path: Path) -> None:
    """Create the data folder 0700 and the database file 0600 before SQLite touches them.

    SQLite's unix VFS gives the -wal and -shm files the database file's mode (0600).
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    if os.name == "posix":
        os.chmod(path, 0o600)

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
    "db_error",
    "default_data_dir",
    "default_vault_path",
    "prepare_sqlite_file",
    "to_url",
]

"""``m365bot controlroom serve|migrate|user``: run the Control Room server, upgrade its
database, create its first administrator and list its users.

Example::

    m365bot controlroom migrate --db postgresql+psycopg://cr@db.corp/controlroom
    printf %s "$PASSWORD" | m365bot controlroom user add admin --admin --password-stdin
    m365bot controlroom user list --json
    m365bot controlroom serve --db /srv/cr/controlroom.db --port 8443 \\
        --tls-cert cert.pem --tls-key key.pem
"""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path
from typing import Any

import click

from m365bot.errors import ConfigError, M365BotError


def _db_location(db: str | None) -> str:
    if db:
        return db
    from m365bot.controlroom.db import default_db_path

    return str(default_db_path(os.environ))


def _fail(exc: M365BotError) -> None:
    click.echo(f"Error: {exc}", err=True)
    sys.exit(2)


_db_option = click.option("--db", default=None, envvar="M365BOT_CONTROLROOM_DB",
                          help="Database file or URL (postgresql+psycopg://...); default "
                          "<data dir>/controlroom.db (env M365BOT_CONTROLROOM_DB).")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command("serve")
@_db_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (loopback by default).")
@click.option("--port", default=8440, show_default=True, type=click.IntRange(1, 65535))
@click.option("--tls-cert", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="PEM certificate (chain): serve HTTPS.")
@click.option("--tls-key", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="PEM private key of --tls-cert.")
@click.option("--public-url", default="", help="The URL browsers use to reach this server "
              "(OAuth redirect URIs); default: from each request.")
@click.option("--vault-key-file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Master key of the Credential Vault kept in the database "
              "(or env M365BOT_VAULT_KEY); without one the vault pages say it is locked.")
def serve(db: str | None, host: str, port: int, tls_cert: Path | None, tls_key: Path | None,
          public_url: str, vault_key_file: Path | None) -> None:
    """Run the Control Room web app and API (uvicorn). Start several, on one or several
    machines, on one PostgreSQL database for a team."""
    from m365bot.extras import require_extra

    try:
        # First: a bot runner without the server extra gets the pip line, and no database
        # file is created or opened.
        require_extra("server", "m365bot controlroom serve")
        config = _server_config(_db_location(db), tls_cert, tls_key, public_url,
                                vault_key_file)
        from m365bot.controlroom.server.app import create_app

        app = create_app(config)
    except M365BotError as exc:
        _fail(exc)
    if not _is_loopback(host):
        click.echo(f"Warning: listening on {host}, beyond this machine: put it behind a "
                   "firewall, and serve HTTPS (--tls-cert/--tls-key) so passwords and API "
                   "keys are encrypted in transit.", err=True)
    import uvicorn

    scheme = "https" if config.tls else "http"
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"Control Room: {scheme}://{shown}:{port}/  (Ctrl+C stops it)", err=True)
    # proxy_headers off: the audit log's client address is the socket's, which a client
    # cannot forge with X-Forwarded-For. No access log: it would print query strings, and
    # an OAuth callback's query holds an authorization code.
    uvicorn.run(app, host=host, port=port,
                ssl_certfile=str(tls_cert) if tls_cert else None,
                ssl_keyfile=str(tls_key) if tls_key else None,
                proxy_headers=False, server_header=False, log_level="info",
                access_log=False)


def _server_config(db: str, tls_cert: Path | None, tls_key: Path | None, public_url: str,
                   vault_key_file: Path | None) -> Any:
    from m365bot.config import Settings
    from m365bot.controlroom.server.config import ServerConfig
    from m365bot.vault.keys import MasterKeySource

    if (tls_cert is None) != (tls_key is None):
        raise ConfigError("--tls-cert and --tls-key go together", field="--tls-key",
                          advice="give both to serve HTTPS, or neither for plain HTTP")
    for opt, path in (("--tls-cert", tls_cert), ("--tls-key", tls_key)):
        if path is not None and not path.is_file():
            raise ConfigError(f"{opt} {path} is not a readable file", field=opt,
                              advice="give the path of a PEM file")
    if public_url and not public_url.startswith(("http://", "https://")):
        raise ConfigError("--public-url must start with http:// or https://",
                          field="--public-url", advice="e.g. https://cr.corp.example:8443")
    source = (MasterKeySource.from_key_file(vault_key_file) if vault_key_file is not None
              else MasterKeySource.from_environ(os.environ))
    return ServerConfig(db=db, tls=tls_cert is not None, public_url=public_url.rstrip("/"),
                        vault_key=source, settings=Settings.from_env())


@click.command("migrate")
@_db_option
def migrate(db: str | None) -> None:
    """Create or upgrade the Control Room database schema (alembic)."""
    from m365bot.controlroom.db import engine_for
    from m365bot.controlroom.db import migrate as run

    try:
        engine = engine_for(_db_location(db))
        try:
            before, after = run(engine)
        finally:
            engine.dispose()
    except M365BotError as exc:
        _fail(exc)
    if before == after:
        click.echo(f"The Control Room database is current (revision {after}).")
    else:
        click.echo(f"The Control Room database was upgraded from {before or 'empty'} to "
                   f"revision {after}.")


@click.group("user")
def user() -> None:
    """Control Room users (more under Administration > Users in the web app)."""


@user.command("add")
@click.argument("name")
@_db_option
@click.option("--admin", is_flag=True, help="Make the user a Control Room administrator.")
@click.option("--password-stdin", is_flag=True, required=True,
              help="Read the password from stdin (never from the command line).")
def user_add(name: str, db: str | None, admin: bool, password_stdin: bool) -> None:
    """Create a user; the first administrator is created this way."""
    from m365bot.controlroom import accounts
    from m365bot.controlroom.db import Database
    from m365bot.values import Secret

    password = Secret(sys.stdin.read().rstrip("\r\n"))
    try:
        database = Database.open(_db_location(db))
        try:
            accounts.create_user(database, name, password, is_admin=admin, by="cli")
        finally:
            database.dispose()
    except M365BotError as exc:
        _fail(exc)
    click.echo(f"User {name} created{' (administrator)' if admin else ''}.")


@user.command("list")
@_db_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def user_list(db: str | None, as_json: bool) -> None:
    """The Control Room's users: administrator, roles, disabled or locked out."""
    from m365bot.cli.outlook_common import emit, show_table
    from m365bot.controlroom import accounts
    from m365bot.controlroom.db import Database

    try:
        database = Database.open(_db_location(db))
        try:
            found = accounts.list_users(database)
        finally:
            database.dispose()
    except M365BotError as exc:
        _fail(exc)
    now = accounts.now()
    rows = [{"name": u.name, "admin": u.is_admin, "roles": list(u.roles),
             "disabled": u.disabled,
             "locked_until": u.locked_until if u.locked_until and u.locked_until > now
             else None} for u in found]
    emit(rows, as_json=as_json, table=lambda data: show_table(
        ["User", "Admin", "Roles", "Disabled", "Locked until"],
        [[r["name"], "yes" if r["admin"] else "", ", ".join(r["roles"]),
          "yes" if r["disabled"] else "", r["locked_until"]] for r in data],
        title=f"Control Room users ({len(data)})"))


def register(group: click.Group) -> None:
    """Add ``serve``, ``migrate`` and ``user`` to the ``controlroom`` command group."""
    group.add_command(serve)
    group.add_command(migrate)
    group.add_command(user)


__all__ = ["register"]

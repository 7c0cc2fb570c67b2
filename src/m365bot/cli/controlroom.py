"""``m365bot controlroom connection add|list|login|status``: the local (embedded) store of
Control Room OAuth connections. The client secret is read from stdin, never from argv.

Example::

    printf %s "$SECRET" | m365bot controlroom connection add --provider "Microsoft Entra" \\
        --name ops --client-id CID --client-secret-stdin \\
        --authorization-url https://login.microsoftonline.com/TID/oauth2/v2.0/authorize \\
        --token-url https://login.microsoftonline.com/TID/oauth2/v2.0/token \\
        --scope offline_access --scope https://graph.microsoft.com/Mail.ReadWrite
    m365bot controlroom connection login --provider "Microsoft Entra" --name ops \\
        --token-type user --user alice@contoso.com
    m365bot controlroom connection status --name ops --user alice@contoso.com --json
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from m365bot.cli import controlroom_server as _server_commands
from m365bot.cli.options import network_options, vault_options
from m365bot.errors import M365BotError

if TYPE_CHECKING:
    from m365bot.config import Settings
    from m365bot.controlroom import ConnectionStore

F = TypeVar("F", bound=Callable[..., Any])


def _common(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(vault_loc: str | None, key_file: Path | None, actor: str | None,
                as_json: bool, **kw: Any) -> Any:
        from m365bot.cli.connect import build_settings, open_vault
        from m365bot.controlroom import ConnectionStore

        try:
            settings = build_settings(kw.pop("proxy", None), kw.pop("ca_bundle", None),
                                      kw.pop("emulator_info", None))
            vault = open_vault(settings, vault_loc, key_file, True, actor)
            try:
                data, text = fn(ConnectionStore(vault), settings, **kw)
            finally:
                vault.close()
        except M365BotError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2)
        click.echo(json.dumps(data, indent=2) if as_json else text)

    return vault_options(wrapper)  # type: ignore[return-value]


@click.group()
def controlroom() -> None:
    """The Control Room: OAuth connections kept on this machine (embedded, next to the
    vault), and the server (serve, migrate, user)."""


@controlroom.group()
def connection() -> None:
    """OAuth connections: add, list, login, status."""


@connection.command("add")
@click.option("--provider", "provider_type", default="Microsoft Entra", show_default=True,
              type=click.Choice(["Microsoft 365 Outlook", "Microsoft Entra", "Custom"]))
@click.option("--name", required=True)
@click.option("--grant-type", default="authorization_code", show_default=True,
              type=click.Choice(["authorization_code", "client_credentials"]))
@click.option("--client-id", required=True)
@click.option("--client-secret-stdin", is_flag=True, help="Read the client secret from stdin.")
@click.option("--cloud", default="global", show_default=True,
              help="Microsoft 365 Outlook: the Azure cloud (global, gcc, gcchigh, dod, china).")
@click.option("--tenant", default="", help="Microsoft 365 Outlook: the tenant id or domain.")
@click.option("--authorization-url", default="")
@click.option("--token-url", default="", help="Required except for Microsoft 365 Outlook.")
@click.option("--scope", "scopes", multiple=True, help="Repeatable; or space/comma separated.")
@_common
def add(store: ConnectionStore, settings: Settings, *, provider_type: str, name: str,
        grant_type: str, client_id: str, client_secret_stdin: bool, cloud: str, tenant: str,
        authorization_url: str, token_url: str, scopes: tuple[str, ...]) -> tuple[Any, str]:
    """Create or replace an OAuth connection (Microsoft 365 Outlook: the URLs are filled in
    from --cloud and --tenant)."""
    from m365bot.controlroom import OAuthConnection
    from m365bot.errors import ConfigError
    from m365bot.values import Secret

    secret = None
    if client_secret_stdin:
        text = sys.stdin.readline().rstrip("\r\n")
        if not text.strip():
            raise ConfigError("--client-secret-stdin read an empty client secret; nothing "
                              "was saved", field="client_secret",
                              advice="pipe the secret in: printf %s \"$SECRET\" | m365bot "
                              "controlroom connection add ... --client-secret-stdin")
        secret = Secret(text)
    flat = [s for part in scopes for s in part.replace(",", " ").split() if s]
    if provider_type == "Microsoft 365 Outlook":
        conn = OAuthConnection.outlook(name, cloud=cloud, tenant=tenant, client_id=client_id,
                                       grant_type=grant_type, client_secret=secret,
                                       scopes=flat or None)
    else:
        conn = OAuthConnection(provider_type, name, client_id=client_id, token_url=token_url,
                               authorization_url=authorization_url, grant_type=grant_type,
                               client_secret=secret, scopes=flat)
    store.add(conn)
    return conn.public(), f"Saved {provider_type} connection {name!r}."


@connection.command("list")
@_common
def list_(store: ConnectionStore, settings: Settings) -> tuple[Any, str]:
    """List connections (never their secrets)."""
    conns = [c.public() for c in store.list()]
    lines = [f"{c['provider_type']:16} {c['name']:20} {c['grant_type']:20} {c['client_id']}"
             for c in conns]
    return conns, "\n".join(lines) or "(no connections)"


@connection.command("status")
@click.option("--provider", "provider_type", default="Microsoft Entra", show_default=True)
@click.option("--name", required=True)
@click.option("--user", default="", help="Also show this user's User-specific token.")
@_common
def status(store: ConnectionStore, settings: Settings, *, provider_type: str, name: str,
           user: str) -> tuple[Any, str]:
    """Shared token status, and a user's User-specific status: Active, Expired or Not
    connected."""
    data = {"connection": name, "shared": store.status(provider_type, name, token_type="shared")}
    if user:
        data["user"] = user
        data["user_specific"] = store.status(provider_type, name, token_type="user", user=user)
    text = f"{name}: Shared token {data['shared']}"
    if user:
        text += f"; {user}: User-specific token {data['user_specific']}"
    return data, text


@connection.command("login")
@click.option("--provider", "provider_type", default="Microsoft Entra", show_default=True)
@click.option("--name", required=True)
@click.option("--token-type", type=click.Choice(["shared", "user"]), default="user",
              show_default=True)
@click.option("--user", default="")
@click.option("--redirect-url", default="http://localhost:0", show_default=True)
@network_options
@_common
def login(store: ConnectionStore, settings: Settings, *, provider_type: str, name: str,
          token_type: str, user: str, redirect_url: str) -> tuple[Any, str]:
    """Sign in (browser) and store the Shared or User-specific token."""
    got = store.login(provider_type, name, token_type=token_type, user=user, settings=settings,
                      redirect_url=redirect_url)
    return ({"connection": name, "token_type": token_type, "user": user, "status": got},
            f"{name}: {token_type} token {got}")


# serve, migrate, user: the Control Room server's commands (their own module).
_server_commands.register(controlroom)

__all__ = ["controlroom"]

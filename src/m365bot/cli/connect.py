"""``m365bot connect``: test a connection and print who is connected to which mailbox, with
which permissions, until when. Never prints a token or a secret.

Example::

    m365bot connect --cloud global --mode client-credentials --client-id CID --tenant-id TID \\
        --username ops@contoso.com --client-secret credential:bots/o365/client_secret \\
        --key-file ~/.m365bot.key --json
    m365bot connect ... --emulator ~/.m365bot-emulator.json   # proxy + CA from the info file
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from m365bot.auth.signin import SIGNIN_METHODS
from m365bot.cli.options import network_options, vault_options
from m365bot.errors import ConfigError, M365BotError

if TYPE_CHECKING:
    from m365bot.values import Value


def load_emulator_info(path: Path) -> dict[str, Any]:
    """The emulator's info file (proxy_url, ca_bundle...); ConfigError if unreadable."""
    try:
        info = json.loads(Path(path).read_text())
        if not isinstance(info, dict) or "proxy_url" not in info or "ca_bundle" not in info:
            raise ValueError
    except (OSError, ValueError):
        raise ConfigError(f"--emulator: {path} is not an emulator info file", field="--emulator",
                          advice="give the file written by 'm365bot emulator serve --info-file "
                          "PATH'") from None
    return info


def build_settings(proxy: str | None, ca_bundle: str | None, emulator: Path | None) -> Any:
    """Settings from the environment, overridden by flags (``--emulator`` fills proxy+CA)."""
    from dataclasses import replace

    from m365bot.config import Settings

    settings = Settings.from_env()
    if emulator is not None:
        info = load_emulator_info(emulator)
        proxy = proxy or str(info["proxy_url"])
        ca_bundle = ca_bundle or str(info["ca_bundle"])
    changes: dict[str, Any] = {}
    if proxy:
        changes["proxy"] = proxy
    if ca_bundle:
        changes["ca_bundle"] = ca_bundle
    return replace(settings, **changes) if changes else settings


def open_vault(settings: Any, vault_loc: str | None, key_file: Path | None,
               needed: bool, actor: str | None = None) -> Any:
    """The unlocked vault if one is configured (or needed); None when there is none.
    ``actor`` defaults to the login name, as for ``m365bot vault``."""
    from m365bot.vault.keys import MasterKeySource

    location = vault_loc or settings.vault_location
    exists = "://" in location or Path(location).exists()
    if not exists:
        if needed:
            raise ConfigError(f"there is no vault at {location}", field="--vault",
                              advice="create it with 'm365bot vault init' or give --vault PATH")
        return None
    source = (MasterKeySource.from_key_file(key_file) if key_file is not None
              else MasterKeySource.from_environ(os.environ))
    if source is None:
        if needed:
            raise ConfigError("the vault's master key was not given", field="--key-file",
                              advice="give --key-file PATH or set M365BOT_VAULT_KEY")
        return None
    from m365bot.cli.actor import default_actor
    from m365bot.vault import Vault

    vault = Vault.open(location, actor=actor or default_actor())
    try:
        if source.kind == "raw":
            vault.unlock(key=source.raw_key())
        else:
            vault.unlock(passphrase=source.material)
    except BaseException:
        vault.close()
        raise
    return vault


def parse_seconds(text: str | None, field: str, default: float = 300.0) -> float:
    """A positive number of seconds from an option; ConfigError naming ``field`` otherwise."""
    if text is None:
        return default
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= 86400:
        raise ConfigError(f"{field} {text!r} is not a number of seconds", field=field,
                          advice=f"give e.g. {field} 600 (at most one day)")
    return seconds


def render(info: dict[str, Any], *, as_json: bool) -> str:
    """The connection test as JSON or as readable lines."""
    if as_json:
        return json.dumps(info, indent=2)
    left = int(info["expires_on"] - time.time())
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(info["expires_on"]))
    return "\n".join([
        "Connected.",
        f"  identity:    {info['identity']} ({info['identity_type']})",
        f"  cloud:       {info['cloud']}",
        f"  mode:        {info['mode']}",
        f"  mailbox:     {info['mailbox']}",
        f"  permissions: {', '.join(info['permissions']) or '(none)'}",
        f"  token expires: {when} (in {left // 60} min)",
    ])


@click.command()
@click.option("--cloud", default="global", show_default=True,
              help="Azure cloud: global, gcc, gcchigh, dod, china (or the Connect action's "
              "labels, e.g. 'Azure US GCC High').")
@click.option("--mode", required=True,
              help="client-credentials, auth-code or control-room.")
@click.option("--client-id", default=None, help="Application (client) ID, or a reference.")
@click.option("--tenant-id", default=None, help="Directory (tenant) ID, or a reference.")
@click.option("--username", required=True, help="Mailbox (client credentials) or user.")
@click.option("--mailbox", default=None, help="Another mailbox the user may open (shared).")
@click.option("--client-secret", default=None, metavar="REF",
              help="credential:LOCKER/CRED/ATTR, variable:NAME or insecure:VALUE.")
@click.option("--redirect-url", default=None, help="Loopback redirect URL (auth-code).")
@click.option("--provider-type", default="Microsoft Entra", show_default=True,
              help="Control Room OAuth connection provider (control-room).")
@click.option("--connection", "connection_name", default=None,
              help="Control Room OAuth connection name (control-room).")
@click.option("--token-type", type=click.Choice(["shared", "user"]), default="shared",
              show_default=True, help="Control Room token type (control-room).")
@click.option("--interactive/--unattended", default=None,
              help="Allow (or forbid) a sign-in by a person (auth-code); default: only at a "
              "terminal. The sign-in URL is printed on stderr.")
@click.option("--signin", "signin", type=click.Choice(SIGNIN_METHODS), default=None,
              help="How a needed sign-in runs (auth-code): browser (open it; default), url "
              "(print the URL, wait for the redirect) or device-code (enter a code on another "
              "device; no --redirect-url needed). Implies --interactive.")
@click.option("--signin-timeout", default=None, metavar="SECONDS",
              help="How long to wait for the sign-in (default 300).")
@network_options
@vault_options
def connect(**opts: Any) -> None:
    """Test a connection: print the identity, cloud, mailbox, permissions and token expiry."""
    import warnings

    from m365bot.values import InsecureValueWarning

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", InsecureValueWarning)
            try:
                info = _run(opts)
            finally:  # an insecure value on argv: one line, as `vault set` refuses them
                said = {str(w.message) for w in caught
                        if issubclass(w.category, InsecureValueWarning)}
                for text in sorted(said):
                    click.echo(f"Warning: {text}", err=True)
    except M365BotError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    click.echo(render(info, as_json=opts["as_json"]))


def _secret_arg(text: str | None) -> Value | None:
    """--client-secret: a reference, or an insecure value on argv (warned about)."""
    from m365bot.values import Insecure, parse_value, warn_insecure

    if not text:
        return None
    value = parse_value(text, field="--client-secret")
    if isinstance(value, Insecure):
        warn_insecure("--client-secret (given on the command line, visible in ps and the "
                      "shell history)", once=False)
    return value


def _run(o: dict[str, Any]) -> dict[str, Any]:
    from m365bot.connection import connect as do_connect
    from m365bot.connection import disconnect
    from m365bot.controlroom.remote import ENV_API_KEY, ENV_URL, connections_for
    from m365bot.values import CredentialRef, parse_value

    settings = build_settings(o["proxy"], o["ca_bundle"], o["emulator_info"])
    signin_timeout = parse_seconds(o["signin_timeout"], "--signin-timeout")
    fields: dict[str, Value | None] = {
        "client_id": parse_value(o["client_id"], field="--client-id", secret=False)
        if o["client_id"] else None,
        "tenant_id": parse_value(o["tenant_id"], field="--tenant-id", secret=False)
        if o["tenant_id"] else None,
        "username": parse_value(o["username"], field="--username", secret=False),
        "mailbox": parse_value(o["mailbox"], field="--mailbox", secret=False)
        if o["mailbox"] else None,
        "client_secret": _secret_arg(o["client_secret"]),
        "redirect_url": o["redirect_url"],
    }
    needs_vault = any(isinstance(v, CredentialRef) for v in fields.values()) or (
        o["mode"].replace("_", "-").lower().startswith("control")
        # a remote Control Room needs the vault only for a key kept there
        and (not os.environ.get(ENV_URL)
             or os.environ.get(ENV_API_KEY, "").startswith("credential:")))
    vault = open_vault(settings, o["vault_loc"], o["key_file"], needs_vault, o["actor"])
    try:
        connection = None
        if o["connection_name"]:
            connection = {"provider_type": o["provider_type"],
                          "connection_name": o["connection_name"],
                          "token_type": o["token_type"]}
        interactive = o["interactive"]
        if interactive is None and o["signin"] is not None:
            interactive = True  # choosing how to sign in asks for a sign-in
        session = do_connect(
            cloud=o["cloud"], mode=o["mode"], client_id=fields["client_id"] or "",
            tenant_id=fields["tenant_id"] or "", username=fields["username"] or "",
            mailbox=fields["mailbox"], client_secret=fields["client_secret"],
            redirect_url=fields["redirect_url"], connection=connection, settings=settings,
            vault=vault, variables=dict(os.environ), interactive=interactive,
            signin=o["signin"] or "browser", signin_timeout=signin_timeout,
            prompt=lambda text: click.echo(text, err=True),
            connections=connections_for(os.environ, vault=vault, variables=dict(os.environ)))
        info = session.info()
        disconnect(session)
        return info
    finally:
        if vault is not None:
            vault.close()


__all__ = ["build_settings", "connect", "load_emulator_info", "open_vault", "parse_seconds",
           "render"]

"""``m365bot profile``: saved connections for the action commands, so a bot's command lines
stay short: ``m365bot folder list --profile ops``.

A profile holds the options of ``m365bot connect`` as *references only*: the client secret as
``credential:LOCKER/CREDENTIAL/ATTRIBUTE`` or ``variable:NAME``, never a value. An
``insecure:`` value, a plain secret, or a proxy URL with a password is refused with a clear
error, so a profile file never holds a secret. Profiles are JSON files under
``<data dir>/profiles/`` (mode 600).

Example::

    m365bot profile save ops --mode client-credentials --client-id CID --tenant-id TID \\
        --username ops@contoso.com --client-secret credential:bots/o365/client_secret
    m365bot folder list --profile ops
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from m365bot.cli.outlook_common import (
    connection_options,
    emit,
    errors_as_lines,
    show_table,
)
from m365bot.errors import ConfigError, NotFoundError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# what a profile keeps: the connection options of `m365bot connect` and the network/vault ones
FIELDS = ("cloud", "mode", "client_id", "tenant_id", "username", "mailbox", "client_secret",
          "redirect_url", "provider_type", "connection_name", "token_type", "interactive",
          "proxy", "ca_bundle", "emulator_info", "vault_loc", "key_file", "actor")
_FLAGS = {"client_secret": "--client-secret", "emulator_info": "--emulator",
          "vault_loc": "--vault"}


def _flag(key: str) -> str:
    return _FLAGS.get(key, "--" + key.replace("_", "-"))


def check_profile_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"the profile name {name!r} is not valid", field="NAME",
                          advice="use 1-64 letters, digits, '.', '_' or '-', e.g. 'ops'")
    return name


def profile_path(settings: Any, name: str) -> Path:
    return Path(settings.data_dir) / "profiles" / f"{check_profile_name(name)}.json"


def references_only(opts: dict[str, Any]) -> dict[str, Any]:
    """The profile data from command options; ConfigError for anything that would put a
    secret in the file."""
    data: dict[str, Any] = {}
    for key in FIELDS:
        value = opts.get(key)
        if value is None or value == "":
            continue
        if isinstance(value, Path):
            value = str(value.expanduser().resolve())
        if isinstance(value, str) and value.startswith("insecure:"):
            raise ConfigError(f"{_flag(key)} is an insecure value; a profile holds references "
                              "only, never secrets", field=_flag(key),
                              advice="store the value in the Credential Vault and give "
                              "credential:LOCKER/CREDENTIAL/ATTRIBUTE, or variable:NAME")
        data[key] = value
    secret = data.get("client_secret")
    if secret is not None and not str(secret).startswith(("credential:", "variable:")):
        raise ConfigError("--client-secret is a plain value; a profile holds references only, "
                          "never secrets", field="--client-secret",
                          advice="store the secret in the Credential Vault and give "
                          "credential:LOCKER/CREDENTIAL/ATTRIBUTE, or variable:NAME")
    if data.get("client_secret"):
        from m365bot.values import parse_value

        parse_value(str(data["client_secret"]), field="--client-secret")  # well-formed ref
    proxy = data.get("proxy")
    if proxy and (urlsplit(str(proxy)).password or urlsplit(str(proxy)).username):
        raise ConfigError("--proxy carries a user name or password; a profile holds no "
                          "secrets", field="--proxy",
                          advice="save the proxy without credentials, and give M365BOT_PROXY "
                          "with them in the bot's environment")
    if not data.get("mode") or not data.get("username"):
        missing = "--mode" if not data.get("mode") else "--username"
        raise ConfigError(f"{missing} is required in a profile", field=missing,
                          advice=f"give {missing} as for 'm365bot connect'")
    return data


def save_profile(settings: Any, name: str, data: dict[str, Any]) -> Path:
    path = profile_path(settings, name)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"format": 1, "name": name, "options": data}, fh, indent=2)
    tmp.replace(path)
    return path


def load_profile(settings: Any, name: str) -> dict[str, Any]:
    """The saved options of profile ``name``; NotFoundError naming it if there is none."""
    path = profile_path(settings, name)
    try:
        data = json.loads(path.read_text())
        options = data["options"]
        if not isinstance(options, dict):
            raise ValueError
    except FileNotFoundError:
        raise NotFoundError(f"--profile: there is no profile named {name!r}",
                            advice="list them with 'm365bot profile list', or save one with "
                            "'m365bot profile save NAME ...'") from None
    except (OSError, ValueError, KeyError):
        raise ConfigError(f"--profile: the profile file {path} is unreadable",
                          field="--profile",
                          advice="save the profile again with 'm365bot profile save'") from None
    return {k: v for k, v in options.items() if k in FIELDS}


def _settings() -> Any:
    from m365bot.config import Settings

    return Settings.from_env()


@click.group()
def profile() -> None:
    """Saved connections (references only, never secrets) for the action commands."""


@profile.command("save")
@click.argument("name")
@connection_options
def save(name: str, **opts: Any) -> None:
    """Save the connection options as profile NAME (use: --profile NAME)."""
    with errors_as_lines():
        data = references_only(opts)
        path = save_profile(_settings(), name, data)
    emit({"name": name, "path": str(path), "options": data}, as_json=opts["as_json"],
         table=lambda d: click.echo(f"Saved profile {name!r} in {d['path']}."))


@profile.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show(name: str, as_json: bool) -> None:
    """Show what profile NAME holds."""
    with errors_as_lines():
        data = load_profile(_settings(), name)
    emit({"name": name, "options": data}, as_json=as_json,
         table=lambda d: show_table(["Option", "Value"],
                                    [[_flag(k), v] for k, v in d["options"].items()],
                                    title=f"Profile {name}"))


@profile.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_(as_json: bool) -> None:
    """List the saved profiles."""
    folder = Path(_settings().data_dir) / "profiles"
    names = sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
    emit(names, as_json=as_json,
         table=lambda d: show_table(["Profile"], [[n] for n in d]))


@profile.command("delete")
@click.argument("name")
def delete(name: str) -> None:
    """Delete profile NAME."""
    with errors_as_lines():
        path = profile_path(_settings(), name)
        if not path.exists():
            raise NotFoundError(f"there is no profile named {name!r}",
                                advice="list them with 'm365bot profile list'")
        path.unlink()
    click.echo(f"Deleted profile {name!r}.")


__all__ = ["FIELDS", "load_profile", "profile", "references_only", "save_profile"]

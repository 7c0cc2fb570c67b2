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

from pathlib import Path
from typing import Any

import click

from m365bot.cli.outlook_common import (
    connection_options,
    emit,
    errors_as_lines,
    show_table,
)
from m365bot.cli.profile_store import (
    load_profile,
    option_flag,
    profile_path,
    references_only,
    save_profile,
)
from m365bot.errors import NotFoundError


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
                                    [[option_flag(k), v] for k, v in d["options"].items()],
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


__all__ = ["profile"]

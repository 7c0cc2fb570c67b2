"""The ``m365bot`` command. Subcommands load lazily so ``m365bot --help`` stays fast, and a
subcommand whose optional packages are not installed says which extra to install."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from m365bot._version import __version__

# name -> "module:attribute" of a click command; each module owns its own subcommand.
_SUBCOMMANDS = {
    "emulator": "m365bot.cli.emulator:emulator",
    "vault": "m365bot.cli.vault:vault",
    "connect": "m365bot.cli.connect:connect",
    "demo": "m365bot.cli.demo:demo",
    "controlroom": "m365bot.cli.controlroom:controlroom",
    "profile": "m365bot.cli.profile:profile",
    "folder": "m365bot.cli.folder:folder",
    "mail": "m365bot.cli.mail:mail",
    "attachment": "m365bot.cli.attachment:attachment",
    "calendar": "m365bot.cli.calendar:calendar",
}


# subcommand -> the extra (m365bot.extras) its optional parts come from
_EXTRA_OF = {"emulator": "emulator", "demo": "emulator", "controlroom": "server"}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_SUBCOMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _SUBCOMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None
            raise
        command: click.Command = getattr(module, attr)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="m365bot")
def cli() -> None:
    """Automate Microsoft 365 Outlook mailboxes from bots."""


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the console script; turns m365bot errors, and a package of an extra
    that is not installed, into one clear line (exit 2)."""
    from m365bot.errors import M365BotError

    args = sys.argv[1:] if argv is None else list(argv)
    try:
        return cli.main(args=args, prog_name="m365bot", standalone_mode=True)
    except M365BotError as exc:  # pragma: no cover - standalone_mode handles click errors
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    except ModuleNotFoundError as exc:
        from m365bot.extras import extra_error, extra_for_module

        command = next((a for a in args if not a.startswith("-")), "")
        found = extra_for_module(exc.name or "", _EXTRA_OF.get(command))
        if found is None:
            raise
        click.echo(f"Error: {extra_error(found[0], f'm365bot {command}', [found[1]])}",
                   err=True)
        sys.exit(2)

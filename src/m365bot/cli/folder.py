"""``m365bot folder``: exists, list, create, rename, move and delete mail folders.

PATH is a folder path such as ``Inbox/Sales/2026``; its first segment may be a well-known name
(``inbox``, ``sentitems``, ``archive``...) in any case, whatever the mailbox's language. Every
command takes the connection options of ``m365bot connect`` or ``--profile NAME``, and
``--json``.

Example::

    m365bot folder create "Inbox/Sales/2026" --profile ops
    m365bot folder list Inbox --profile ops --json
    m365bot folder exists "Inbox/Sales" --profile ops    # exit 0: exists, 1: does not
"""

from __future__ import annotations

import sys
from typing import Any

import click

from m365bot.cli.outlook_common import (
    action,
    connection_options,
    emit,
    errors_as_lines,
    progress,
    show_table,
)


def _check(*paths: tuple[str, str]) -> None:
    """Refuse a path that cannot be a folder before signing in: nothing is sent."""
    from m365bot.outlook.folders import parse_path

    with errors_as_lines():
        for value, field in paths:
            parse_path(value, field=field)


def _folder_row(f: Any) -> list[Any]:
    return [f.path, f.unread_count, f.total_count, f.child_count]


def _show_folders(folders: list[Any]) -> None:
    # ids are long and for programs: --json has them
    show_table(["Path", "Unread", "Total", "Subfolders"],
               [_folder_row(f) for f in folders])


@click.group()
def folder() -> None:
    """Mail folders: exists, list, create, rename, move, delete."""


@folder.command("exists")
@click.argument("path")
@connection_options
def exists(path: str, **opts: Any) -> None:
    """Say whether PATH exists (exit 0 if it does, 1 if not)."""
    _check((path, "PATH"))
    with action(opts) as session:
        found = session.folders.exists(path, field="PATH")
    emit({"path": path, "exists": found}, as_json=opts["as_json"],
         table=lambda d: click.echo(f"{path}: {'exists' if found else 'does not exist'}"))
    sys.exit(0 if found else 1)


@folder.command("list")
@click.argument("path", required=False)
@click.option("--hidden", "include_hidden", is_flag=True, help="Include hidden folders.")
@connection_options
def list_(path: str | None, include_hidden: bool, **opts: Any) -> None:
    """List every folder below PATH (default: the whole mailbox), with counts."""
    if path is not None:
        _check((path, "PATH"))
    with action(opts) as session, progress("Listing folders"):
        nodes = session.folders.tree(path, include_hidden=include_hidden, field="PATH")
    folders = [f for node in nodes for f in node.walk()]
    emit(folders, as_json=opts["as_json"], table=_show_folders)


@folder.command("create")
@click.argument("path")
@connection_options
def create(path: str, **opts: Any) -> None:
    """Create PATH and every missing folder above it (nothing happens if it exists)."""
    _check((path, "PATH"))
    with action(opts) as session:
        made = session.folders.create(path, field="PATH")
    emit(made, as_json=opts["as_json"], table=lambda f: _show_folders([f]))


@folder.command("rename")
@click.argument("path")
@click.argument("new_name")
@connection_options
def rename(path: str, new_name: str, **opts: Any) -> None:
    """Rename the folder at PATH to NEW_NAME (it stays where it is)."""
    _check((path, "PATH"))
    with action(opts) as session:
        renamed = session.folders.rename(path, new_name, field="PATH", name_field="NEW_NAME")
    emit(renamed, as_json=opts["as_json"], table=lambda f: _show_folders([f]))


@folder.command("move")
@click.argument("path")
@click.argument("destination")
@connection_options
def move(path: str, destination: str, **opts: Any) -> None:
    """Move the folder at PATH, with its contents, under DESTINATION."""
    _check((path, "PATH"), (destination, "DESTINATION"))
    with action(opts) as session:
        moved = session.folders.move(path, destination, field="PATH", dest_field="DESTINATION")
    emit(moved, as_json=opts["as_json"], table=lambda f: _show_folders([f]))


@folder.command("delete")
@click.argument("path")
@connection_options
def delete(path: str, **opts: Any) -> None:
    """Delete the folder at PATH and everything in it."""
    _check((path, "PATH"))
    with action(opts) as session:
        session.folders.delete(path, field="PATH")
    emit({"path": path, "deleted": True}, as_json=opts["as_json"],
         table=lambda d: click.echo(f"Deleted {path}."))


__all__ = ["folder"]

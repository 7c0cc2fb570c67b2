"""What every Outlook action command shares (``m365bot folder|mail|calendar|attachment ...``):
the connection options of ``m365bot connect`` or a saved ``--profile``, opening and closing the
session, one-line errors (``Error: ... Fix: ...``, exit 2), ``--json`` output, readable rich
tables, and rich progress bars on stderr for anything long.

Example (a new action command)::

    @group.command("count")
    @click.argument("path")
    @connection_options
    def count(path: str, **opts: Any) -> None:
        with action(opts) as session:
            folder = session.folders.get(path, field="PATH")
        emit({"path": folder.path, "total": folder.total_count}, as_json=opts["as_json"],
             table=lambda data: show_table(["Path", "Total"], [[data["path"], data["total"]]]))
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from m365bot.cli.options import network_options, vault_options
from m365bot.errors import ConfigError, M365BotError

F = TypeVar("F", bound=Callable[..., Any])

# the options `m365bot connect` takes, as (option, parameter, help); all optional here because
# a --profile may give them
CONNECT_OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("--cloud", "cloud", "Azure cloud: global, gcc, gcchigh, dod, china (default: global)."),
    ("--mode", "mode", "client-credentials, auth-code or control-room."),
    ("--client-id", "client_id", "Application (client) ID, or a reference."),
    ("--tenant-id", "tenant_id", "Directory (tenant) ID, or a reference."),
    ("--username", "username", "Mailbox (client credentials) or user."),
    ("--mailbox", "mailbox", "Another mailbox the user may open (shared)."),
    ("--client-secret", "client_secret",
     "credential:LOCKER/CRED/ATTR, variable:NAME or insecure:VALUE."),
    ("--redirect-url", "redirect_url", "Loopback redirect URL (auth-code)."),
    ("--provider-type", "provider_type",
     "Control Room OAuth connection provider (default: Microsoft Entra)."),
    ("--connection", "connection_name", "Control Room OAuth connection name (control-room)."),
    ("--token-type", "token_type", "Control Room token type: shared or user (control-room)."),
)


def connection_options(fn: F) -> F:
    """The connection options of ``m365bot connect``, ``--profile NAME``, the network and
    vault options, and ``--json``."""
    fn = vault_options(network_options(fn))
    fn = click.option("--interactive/--unattended", default=None,
                      help="Allow (or forbid) opening a browser to sign in (auth-code).")(fn)
    for flag, name, text in reversed(CONNECT_OPTIONS):
        fn = click.option(flag, name, default=None, help=text)(fn)
    return click.option("--profile", default=None, metavar="NAME",
                        help="A saved connection ('m365bot profile save NAME ...'); options "
                        "given here override it.")(fn)


def fail(exc: M365BotError) -> None:
    """Print the error as one line, ``Error: ... Fix: ...``, and exit 2. A bad argument of the
    Python API is named as the command line spells it (``received_since: ...`` from
    ``--since`` reads ``--since: ...``)."""
    message, field = exc.message, getattr(exc, "field", "")  # a ConfigError, a PathNotFound
    if field and message.startswith(f"{field}:"):
        message = typed_name(field) + message[len(field):]
    advice = exc.advice or "check the command's options with --help"
    click.echo(f"Error: {message} Fix: {advice}", err=True)
    sys.exit(2)


def typed_name(parameter: str) -> str:
    """How the running command's user wrote ``parameter``: its option (``--since``; both of
    the flags that set it, ``--unread/--read``) or its argument (``ID``); ``parameter`` itself
    outside a command or when no option sets it."""
    ctx = click.get_current_context(silent=True)
    params = [p for p in ctx.command.params if p.name == parameter] if ctx else []
    if not params:
        return parameter
    return "/".join(p.opts[0] if isinstance(p, click.Option) else p.human_readable_name
                    for p in params)


@contextlib.contextmanager
def errors_as_lines() -> Iterator[None]:
    """Run a command body: any m365bot error becomes one line on stderr and exit 2."""
    try:
        yield
    except M365BotError as exc:
        fail(exc)


@contextlib.contextmanager
def action(opts: dict[str, Any]) -> Iterator[Any]:
    """Connect with the command's options (and profile), yield the session, then disconnect;
    m365bot errors become ``Error: ... Fix: ...`` and exit 2.

    Example::

        with action(opts) as session:
            session.folders.create("Inbox/Sales")
    """
    with errors_as_lines(), open_session(opts) as session:
        yield session


@contextlib.contextmanager
def open_session(opts: dict[str, Any]) -> Iterator[Any]:
    """The session for the command's connection options (a profile fills what is missing)."""
    import warnings

    from m365bot.cli.connect import build_settings, open_vault
    from m365bot.connection import connect, disconnect
    from m365bot.values import CredentialRef, InsecureValueWarning, Value, parse_value

    o = with_profile(opts)
    if not o.get("mode") or not o.get("username"):
        missing = "--mode" if not o.get("mode") else "--username"
        raise ConfigError(f"{missing} is required", field=missing,
                          advice=f"give {missing} (the same options as 'm365bot connect'), "
                          "or --profile NAME saved with 'm365bot profile save'")
    settings = build_settings(o.get("proxy"), o.get("ca_bundle"), _path(o.get("emulator_info")))

    def value(name: str, flag: str, secret: bool = False) -> Value | None:
        text = o.get(name)
        return parse_value(text, field=flag, secret=secret) if text else None

    fields = {"client_id": value("client_id", "--client-id"),
              "tenant_id": value("tenant_id", "--tenant-id"),
              "username": value("username", "--username"),
              "mailbox": value("mailbox", "--mailbox"),
              "client_secret": value("client_secret", "--client-secret", secret=True)}
    needs_vault = any(isinstance(v, CredentialRef) for v in fields.values()) or (
        str(o["mode"]).replace("_", "-").lower().startswith("control"))
    vault = open_vault(settings, o.get("vault_loc"), _path(o.get("key_file")), needs_vault,
                       o.get("actor"))
    session = None
    try:
        connection = None
        if o.get("connection_name"):
            connection = {"provider_type": o.get("provider_type") or "Microsoft Entra",
                          "connection_name": o["connection_name"],
                          "token_type": o.get("token_type") or "shared"}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InsecureValueWarning)  # chosen explicitly here
            session = connect(
                cloud=o.get("cloud") or "global", mode=o["mode"],
                client_id=fields["client_id"] or "", tenant_id=fields["tenant_id"] or "",
                username=fields["username"] or "", mailbox=fields["mailbox"],
                client_secret=fields["client_secret"], redirect_url=o.get("redirect_url"),
                connection=connection, settings=settings, vault=vault,
                variables=dict(os.environ), interactive=o.get("interactive"))
        yield session
    finally:
        if session is not None:
            disconnect(session)
        if vault is not None:
            vault.close()


def _path(value: Any) -> Path | None:
    return None if value in (None, "") else Path(value)


def with_profile(opts: dict[str, Any]) -> dict[str, Any]:
    """The options, with those not given on the command line taken from ``--profile``."""
    name = opts.get("profile")
    if not name:
        return dict(opts)
    from m365bot.cli.profile_store import load_profile
    from m365bot.config import Settings

    saved = load_profile(Settings.from_env(), name)
    merged = dict(opts)
    for key, stored in saved.items():
        if merged.get(key) in (None, ""):
            merged[key] = stored
    return merged


# -- output ------------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """Models and plain values as JSON data: dataclasses become objects, times ISO 8601;
    bytes are left out (an attachment's content is saved, not printed). A field named with
    Python's keyword escape is written without it: ``Email.from_`` is ``"from"``, as
    ``--fields from`` calls it."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name.removesuffix("_"): jsonable(getattr(value, f.name))
                for f in dataclasses.fields(value)
                if not isinstance(getattr(value, f.name), bytes)}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def emit(data: Any, *, as_json: bool, table: Callable[[Any], None]) -> None:
    """``--json``: the data as JSON on stdout; else ``table(data)`` prints it for people."""
    if as_json:
        click.echo(json.dumps(jsonable(data), indent=2, ensure_ascii=False))
    else:
        table(data)


def show_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
               title: str | None = None) -> None:
    """A readable table on stdout (rich), cells shown as text, empty ones as ``-``."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("-" if cell is None or cell == "" else str(cell) for cell in row))
    Console(soft_wrap=False).print(table)


class Progress:
    """The handle a long task advances: ``advance(n)``, ``total = N`` once known."""

    def __init__(self, bar: Any, task: Any) -> None:
        self._bar, self._task = bar, task

    def advance(self, n: int = 1) -> None:
        self._bar.advance(self._task, n)

    def set_total(self, total: int | None) -> None:
        self._bar.update(self._task, total=total)


@contextlib.contextmanager
def progress(description: str, *, total: int | None = None) -> Iterator[Progress]:
    """A rich progress bar on stderr (stdout stays clean for ``--json``); shown only on a
    terminal, so logs and pipes get no control codes.

    Example::

        with progress("Moving", total=len(ids)) as bar:
            for r in session.mail.move_all(...):
                bar.advance()
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.progress import Progress as RichProgress

    console = Console(stderr=True)
    with RichProgress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                      transient=True, disable=not console.is_terminal) as bar:
        yield Progress(bar, bar.add_task(description, total=total))


__all__ = ["CONNECT_OPTIONS", "Progress", "action", "connection_options", "emit",
           "errors_as_lines", "fail", "jsonable", "open_session", "progress", "show_table",
           "with_profile"]

"""``m365bot mail``: list and get messages, and watch a folder for new ones.

Every command takes the connection options of ``m365bot connect`` or ``--profile NAME``, and
``--json``. The filters are checked before signing in: a bad one sends nothing.

Example::

    m365bot mail list --folder Inbox/Sales --unread --from bob@contoso.com --limit 20
    m365bot mail get AAMkAG... --json
    m365bot mail watch --folder Inbox --once --json

**Adding commands to this group** (send, move...): write them in your own module, list the
module in :data:`EXTENSIONS`, and either give it ``COMMANDS`` (a tuple of click commands) or
register them on the group defined here; the group imports the module when a ``mail``
command is looked up::

    @click.command("send")
    @connection_options
    def send(**opts): ...

    COMMANDS = (send,)

``filter_options`` adds the filters of ``mail list`` (``--folder --unread --from ...``) to a
command; ``listing_arguments(opts)`` turns them into the keyword arguments of
``session.mail.list``.
"""

from __future__ import annotations

import contextlib
import importlib
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import click

from m365bot.cli.outlook_common import (
    action,
    connection_options,
    emit,
    errors_as_lines,
    jsonable,
    progress,
    show_table,
)

F = TypeVar("F", bound=Callable[..., Any])

EXTENSIONS = ("m365bot.cli.mail_send", "m365bot.cli.mail_manage")
"""Modules that add commands to ``m365bot mail`` (imported when a command is looked up)."""


class _MailGroup(click.Group):
    """The ``mail`` group: its own commands, then those of :data:`EXTENSIONS`."""

    _loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for name in EXTENSIONS:
            module = importlib.import_module(name)  # a broken module fails loudly
            for command in getattr(module, "COMMANDS", ()):
                if command.name not in self.commands:
                    self.add_command(command)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load()
        return super().get_command(ctx, cmd_name)


@click.group(cls=_MailGroup)
def mail() -> None:
    """Messages: list, get, watch for new ones (and the commands that act on them)."""


def filter_options(fn: F) -> F:
    """The folder and filters of ``mail list``, as options."""
    options = [
        click.option("--folder", default="Inbox", show_default=True,
                     help="Folder path (Inbox/Sales) or well-known name, in any language."),
        click.option("--unread", "status", flag_value="unread", help="Only unread mail."),
        click.option("--read", "status", flag_value="read", help="Only read mail."),
        click.option("--from", "senders", metavar="ADDRESSES",
                     help="Sender address(es), separated by commas."),
        click.option("--subject", "subject_contains", metavar="TEXT",
                     help="Subject contains TEXT."),
        click.option("--since", "received_since", metavar="DATE",
                     help="Received on or after DATE (2026-11-01 or 2026-11-01T09:00:00Z)."),
        click.option("--until", "received_until", metavar="DATE",
                     help="Received before DATE."),
        click.option("--has-attachments/--no-attachments", "has_attachments", default=None,
                     help="Only mail with (or without) attachments."),
        click.option("--importance", type=click.Choice(["low", "normal", "high"]),
                     help="Only mail of this importance."),
        click.option("--category", metavar="NAME", help="Only mail in this category."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def listing_arguments(opts: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``session.mail.list`` from :func:`filter_options`' options
    (removed from ``opts``)."""
    out = {name: opts.pop(name) for name in (
        "senders", "subject_contains", "received_since", "received_until", "has_attachments",
        "importance", "category")}
    out["status"] = opts.pop("status") or "all"
    return out


def _row(e: Any) -> list[Any]:
    sender = e.from_.address if e.from_ else None
    when = e.received.strftime("%Y-%m-%d %H:%M") if e.received else None
    flags = ("" if e.is_read is None or e.is_read else "unread") + (
        " att" if e.has_attachments else "")
    return [when, sender, e.subject, flags.strip()]


def _show(emails: list[Any]) -> None:
    show_table(["Received", "From", "Subject", "Flags"], [_row(e) for e in emails],
               title=f"{len(emails)} message(s)")


def _fields(text: str | None) -> list[str] | None:
    return None if not text else [f.strip() for f in text.split(",") if f.strip()]


@mail.command("list")
@filter_options
@click.option("--search", metavar="KQL", help='Free-text KQL search ("from:bob AND invoice").')
@click.option("--fields", metavar="NAMES",
              help="Fields to fetch, separated by commas (subject,from,received...).")
@click.option("--limit", type=click.IntRange(min=1), help="At most N messages.")
@connection_options
def list_(folder: str, search: str | None, fields: str | None, limit: int | None,
          **opts: Any) -> None:
    """List the messages of a folder, newest first, filtered on the server."""
    from m365bot.outlook.listing import prepare

    args = listing_arguments(opts)
    with errors_as_lines():  # checked before signing in: nothing sent
        prepare(folder, search=search, fields=_fields(fields), limit=limit, page_size=1000,
                body_type=None, **args)
    found: list[Any] = []
    with action(opts) as session, progress("Listing mail") as bar:
        for email in session.mail.list(folder, search=search, fields=_fields(fields),
                                       limit=limit, **args):
            found.append(email)
            bar.advance()
    emit(found, as_json=opts["as_json"], table=_show)


@mail.command("get")
@click.argument("message_id", metavar="ID")
@click.option("--html", is_flag=True, help="The body as HTML (default: text).")
@connection_options
def get(message_id: str, html: bool, **opts: Any) -> None:
    """Show one message: headers and body."""
    from m365bot.outlook.listing import check_id

    with errors_as_lines():
        check_id(message_id, field="ID")
    with action(opts) as session:
        email = session.mail.get(message_id, body_type="html" if html else "text")

    def show(e: Any) -> None:
        for label, value in (("From", e.from_), ("To", ", ".join(map(str, e.to))),
                             ("Cc", ", ".join(map(str, e.cc))), ("Subject", e.subject),
                             ("Received", e.received), ("Importance", e.importance),
                             ("Categories", ", ".join(e.categories))):
            if value:
                click.echo(f"{label}: {value}")
        click.echo("")
        click.echo(e.body or "")

    emit(email, as_json=opts["as_json"], table=show)


@contextlib.contextmanager
def _stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """Ctrl-C and SIGTERM ask the watch to stop after the email in hand."""
    previous = {s: signal.signal(s, lambda *_: stop()) for s in (signal.SIGINT,
                                                                 signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@mail.command("watch")
@filter_options
@click.option("--once", is_flag=True, help="Poll once, print the new mail, and exit.")
@click.option("--interval", type=click.FloatRange(min=1), default=30.0, show_default=True,
              help="Seconds between polls.")
@click.option("--start", default="now", show_default=True,
              help="On the first run: 'now' (mail from now on), 'all' (the mail already "
              "there too) or a DATE.")
@connection_options
def watch(folder: str, once: bool, interval: float, start: str, **opts: Any) -> None:
    """Print each new email in a folder once, across runs (the cursor is kept in the data
    folder). Runs until Ctrl-C or SIGTERM, or one poll with --once."""
    from m365bot.outlook.filters import mail_filter
    from m365bot.outlook.listing import check_folder
    from m365bot.outlook.watch import Watcher, start_of

    args = listing_arguments(opts)
    with errors_as_lines():  # checked before signing in: nothing sent
        check_folder(folder)
        mail_filter(**args)
        start_of(start)
    as_json = opts["as_json"]
    found: list[Any] = []

    def handle(email: Any) -> None:
        if once:
            found.append(email)
        elif as_json:
            click.echo(jsonable_line(email))
        else:
            click.echo(" | ".join(str(c or "-") for c in _row(email)))

    with action(opts) as session:
        watcher: Watcher = session.mail.watcher(folder, start=start, **args)
        with _stop_on_signals(watcher.stop):
            watcher.run(handle, once=once, interval=interval)
    if once:
        emit(found, as_json=as_json, table=_show)
    else:
        click.echo(f"Stopped after {watcher.handled} new email(s).", err=True)
    sys.exit(0)


def jsonable_line(email: Any) -> str:
    """One email as one line of JSON (a long-running watch prints JSON Lines)."""
    import json

    return json.dumps(jsonable(email), ensure_ascii=False)


__all__ = ["EXTENSIONS", "filter_options", "listing_arguments", "mail"]

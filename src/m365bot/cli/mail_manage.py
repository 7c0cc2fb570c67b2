"""``m365bot mail move|copy|delete|mark|flag|categorize|save-eml``: act on emails named by id,
or (move, copy, delete, mark) on every email of ``--folder`` matching the filters of
``m365bot mail list`` when no id is given. Bulk work goes through ``$batch`` with a progress
bar; a run that was stopped resumes with the same ``--job`` (or the same filters). Each
command prints one row (or, with ``--json``, one object) per email; the exit status is 1 when
an email failed, 2 on bad input.

Example::

    m365bot mail move --to Archive --folder Inbox --from shop@kunde.example --profile ops
    m365bot mail mark AAMkAG... --as read --profile ops --json
    m365bot mail flag AAMkAG... --due 2026-12-01 --profile ops
    m365bot mail save-eml AAMkAG... mail.eml --profile ops
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click

from m365bot.cli.mail import filter_options, listing_arguments, mail
from m365bot.cli.outlook_common import action, emit, errors_as_lines, progress, show_table
from m365bot.cli.outlook_common import connection_options as connection


def show_results(results: list[Any]) -> None:
    show_table(["Item", "Result", "Code", "New id / file"],
               [[r.item_id[-16:], "done earlier" if r.skipped else ("ok" if r.ok else
                                                                    f"failed ({r.status})"),
                 r.code, r.path or (r.new_id[-16:] if r.new_id else None)] for r in results],
               title=f"{sum(r.ok for r in results)} of {len(results)} ok")


def report(results: list[Any], as_json: bool) -> None:
    """Print the per-item results; exit 1 when any failed."""
    emit(results, as_json=as_json, table=show_results)
    sys.exit(0 if all(r.ok for r in results) else 1)


def bulk_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--job", default=None, metavar="NAME",
                      help="Name of the run, to resume it after a stop (default: derived "
                      "from the command and its filters).")(fn)
    fn = filter_options(fn)
    return click.argument("ids", nargs=-1, metavar="[ID]...")(fn)


def run_bulk(opts: dict[str, Any], ids: tuple[str, ...], check: Callable[[], None],
             call: Callable[..., list[Any]], what: str) -> None:
    """Check the input before signing in, then run ``call(session, **kwargs)`` with a
    progress bar and report the results."""
    from m365bot.outlook.listing import check_folder
    from m365bot.outlook.manage import email_id, listing_of

    folder, job = opts.pop("folder"), opts.pop("job")
    filters = {k: v for k, v in listing_arguments(opts).items()
               if v is not None and v != "all"}
    with errors_as_lines():
        check()
        if ids:
            for mid in ids:
                email_id(mid, "ID")
        else:
            check_folder(folder)
            listing_of(folder, filters)
    target = {"ids": list(ids)} if ids else {"folder": folder, **filters}
    with action(opts) as session, progress(what) as bar:
        seen = [0]

        def advance(done: int, total: int) -> None:
            bar.set_total(total)
            bar.advance(done - seen[0])
            seen[0] = done

        results = call(session, job=job, progress=advance, **target)
    report(results, opts["as_json"])


def _folder_check(value: str, field: str) -> Callable[[], None]:
    from m365bot.outlook.folderpaths import parse_path

    def check() -> None:
        parse_path(value, field=field)
    return check


@mail.command("move")
@bulk_options
@click.option("--to", "destination", required=True, metavar="FOLDER",
              help="Destination folder path or well-known name (Archive, Inbox/Done).")
@connection
def move(ids: tuple[str, ...], destination: str, **opts: Any) -> None:
    """Move the emails ID... (or every email of --folder matching the filters) to --to."""
    run_bulk(opts, ids, _folder_check(destination, "--to"),
             lambda s, **kw: s.mail.move_all(destination, **kw), "Moving")


@mail.command("copy")
@bulk_options
@click.option("--to", "destination", required=True, metavar="FOLDER",
              help="Destination folder path or well-known name.")
@connection
def copy(ids: tuple[str, ...], destination: str, **opts: Any) -> None:
    """Copy the emails ID... (or every matching email) to --to."""
    run_bulk(opts, ids, _folder_check(destination, "--to"),
             lambda s, **kw: s.mail.copy_all(destination, **kw), "Copying")


@mail.command("delete")
@bulk_options
@click.option("--permanent", is_flag=True,
              help="Delete for good (permanentDelete) instead of moving to Deleted Items.")
@connection
def delete(ids: tuple[str, ...], permanent: bool, **opts: Any) -> None:
    """Delete the emails ID... (or every matching email): to Deleted Items, or for good."""
    run_bulk(opts, ids, lambda: None,
             lambda s, **kw: s.mail.delete_all(permanent=permanent, **kw), "Deleting")


@mail.command("mark")
@bulk_options
@click.option("--as", "mark_as", type=click.Choice(["read", "unread"]), default="read",
              show_default=True, help="Mark read, or unread (--read/--unread filter).")
@connection
def mark(ids: tuple[str, ...], mark_as: str, **opts: Any) -> None:
    """Mark the emails ID... (or every matching email) read or unread (--as)."""
    run_bulk(opts, ids, lambda: None,
             lambda s, **kw: s.mail.mark_all(read=mark_as == "read", **kw), "Marking")


def each(opts: dict[str, Any], ids: tuple[str, ...], check: Callable[[], None],
         act: Callable[[Any, str], None]) -> None:
    """Run ``act(session, id)`` for each id; a failure is that email's result."""
    from m365bot.errors import GraphError
    from m365bot.outlook.manage import email_id
    from m365bot.outlook.models import Result

    with errors_as_lines():
        check()
        for mid in ids:
            email_id(mid, "ID")
    results = []
    with action(opts) as session:
        for mid in ids:
            try:
                act(session, mid)
                results.append(Result(item_id=mid, ok=True, status=200))
            except GraphError as exc:
                results.append(Result(item_id=mid, ok=False, status=exc.status,
                                      code=exc.code, message=exc.message))
    report(results, opts["as_json"])


def _due(text: str | None) -> datetime | None:
    from m365bot.errors import ConfigError

    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--due: {text!r} is not a date", field="--due",
                          advice="give a date like 2026-12-01 or 2026-12-01T17:00:00Z"
                          ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@mail.command("flag")
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
@click.option("--status", type=click.Choice(["flagged", "complete", "notFlagged"]),
              default="flagged", show_default=True, help="The follow-up flag to set.")
@click.option("--due", metavar="DATE", help="Due date of a flagged email (UTC if no zone).")
@connection
def flag(ids: tuple[str, ...], status: str, due: str | None, **opts: Any) -> None:
    """Flag, complete or unflag (--status notFlagged) the emails ID...."""
    from m365bot.outlook.manage import flag_body

    when: list[datetime | None] = []

    def check() -> None:
        value = _due(due)
        flag_body(status, value)
        when.append(value)

    each(opts, ids, check, lambda s, mid: s.mail.flag(mid, status=status, due=when[0]))


@mail.command("categorize")
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
@click.option("--category", "categories", multiple=True, metavar="NAME",
              help="A category to set (repeat for several); replaces the email's categories.")
@click.option("--clear", is_flag=True, help="Remove every category.")
@connection
def categorize(ids: tuple[str, ...], categories: tuple[str, ...], clear: bool,
               **opts: Any) -> None:
    """Set (or --clear) the categories of the emails ID...."""
    from m365bot.errors import ConfigError
    from m365bot.outlook.manage import categories_of

    def check() -> None:
        if clear == bool(categories):
            raise ConfigError("--category: give one or more category names, or --clear",
                              field="--category", advice="for example --category Invoices")
        if categories:
            categories_of(categories, "--category")

    each(opts, ids, check,
         lambda s, mid: s.mail.clear_categories(mid) if clear
         else s.mail.set_categories(mid, categories))


@mail.command("save-eml")
@click.argument("message_id", metavar="ID")
@click.argument("path", type=click.Path())
@click.option("--overwrite", is_flag=True, help="Replace PATH if it exists.")
@connection
def save_eml(message_id: str, path: str, overwrite: bool, **opts: Any) -> None:
    """Save the whole email ID as an .eml file at PATH (or in the folder PATH)."""
    from m365bot.outlook.manage import email_id

    with errors_as_lines():
        email_id(message_id, "ID")
    with action(opts) as session:
        written = session.mail.save_eml(message_id, path, overwrite=overwrite)
    emit({"id": message_id, "path": str(written)}, as_json=opts["as_json"],
         table=lambda d: click.echo(f"Saved {d['path']}"))


__all__ = ["bulk_options", "report", "show_results"]

"""``m365bot attachment list|save``: the attachments of an email; save one, all of them, or
(with no ID) every attachment of the emails of ``--folder`` matching the filters of
``m365bot mail list``. Files get safe names and never overwrite one another
(``name (2).ext``) unless ``--overwrite``.

Example::

    m365bot attachment list AAMkAG... --profile ops
    m365bot attachment save AAMkAG... --to invoices/ --profile ops
    m365bot attachment save --to invoices/ --folder Inbox --from shop@kunde.example --profile ops
"""

from __future__ import annotations

from typing import Any

import click

from m365bot.cli.mail import filter_options, listing_arguments
from m365bot.cli.mail_manage import report
from m365bot.cli.outlook_common import (
    action,
    connection_options,
    emit,
    errors_as_lines,
    progress,
    show_table,
)


@click.group()
def attachment() -> None:
    """Attachments: list, save."""


@attachment.command("list")
@click.argument("message_id", metavar="ID")
@connection_options
def list_(message_id: str, **opts: Any) -> None:
    """List the attachments of the email ID."""
    from m365bot.outlook.manage import email_id

    with errors_as_lines():
        email_id(message_id, "ID")
    with action(opts) as session:
        found = session.attachments.list(message_id)
    emit(found, as_json=opts["as_json"], table=lambda items: show_table(
        ["Name", "Kind", "Size", "Type", "Id"],
        [[a.name, a.kind, a.size, a.content_type, a.id[-16:]] for a in items],
        title=f"{len(items)} attachment(s)"))


@attachment.command("save")
@click.argument("message_id", metavar="[ID]", required=False)
@click.argument("attachment_id", metavar="[ATTACHMENT_ID]", required=False)
@click.option("--to", "dest", required=True, type=click.Path(file_okay=False),
              help="Folder to save in (created if missing).")
@click.option("--overwrite", is_flag=True, help="Replace files of the same name.")
@click.option("--name", default=None, help="File name for a single attachment.")
@click.option("--job", default=None, metavar="NAME",
              help="Name of a bulk run, to resume it after a stop.")
@filter_options
@connection_options
def save(message_id: str | None, attachment_id: str | None, dest: str, overwrite: bool,
         name: str | None, job: str | None, **opts: Any) -> None:
    """Save one attachment (ID ATTACHMENT_ID), all of an email (ID), or all of every
    matching email (no ID) in --to."""
    from m365bot.outlook.attachments import attachment_id as check_attachment
    from m365bot.outlook.filenames import check_name
    from m365bot.outlook.manage import email_id, listing_of

    folder = opts.pop("folder")
    filters = {k: v for k, v in listing_arguments(opts).items()
               if v is not None and v != "all"}
    with errors_as_lines():
        if message_id:
            email_id(message_id, "ID")
        else:
            listing_of(folder, filters)
        if attachment_id:
            check_attachment(attachment_id, "ATTACHMENT_ID")
        if name is not None:
            check_name(name, field="--name")
    with action(opts) as session:
        if message_id and attachment_id:
            path = session.attachments.save(message_id, attachment_id, dest,
                                            overwrite=overwrite, name=name)
            emit({"path": str(path)}, as_json=opts["as_json"],
                 table=lambda d: click.echo(f"Saved {d['path']}"))
            return
        if message_id:
            results = session.attachments.save_all(message_id, dest, overwrite=overwrite)
        else:
            with progress("Saving attachments") as bar:
                seen = [0]

                def advance(done: int, total: int) -> None:
                    bar.set_total(total)
                    bar.advance(done - seen[0])
                    seen[0] = done

                results = session.attachments.save_matching(
                    dest, folder=folder, overwrite=overwrite, job=job, progress=advance,
                    **filters)
    report(results, opts["as_json"])


__all__ = ["attachment"]

"""``m365bot mail send|reply|reply-all|forward``: send a message, at most once.

Addresses may be repeated (``--to a@x.com --to b@x.com``) or listed with ``,`` or ``;``. The
input is checked before signing in, so a bad address or a missing file sends nothing. The
result is a table (status, mailbox, internetMessageId) or ``--json``; a send that is not
plainly sent ends with one line ``Error: not sent: ...`` or ``Error: unknown: check Sent
Items ...`` and exit status 2.

Example::

    m365bot mail send --to bob@contoso.com --subject "Report" --body-file report.html --html \\
        --attach report.pdf --profile ops
    m365bot mail reply-all AAMkAG... --comment "Agreed" --exclude-sender --profile ops
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from m365bot.cli.outlook_common import (
    action,
    connection_options,
    emit,
    errors_as_lines,
    progress,
    show_table,
)
from m365bot.errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])

# the Python argument each option feeds, for errors that name what the user typed
_OPTIONS = {"to": "--to", "cc": "--cc", "bcc": "--bcc", "reply_to": "--reply-to",
            "attachments": "--attach", "importance": "--importance", "body": "--body",
            "from_mailbox": "--from-mailbox", "message_id": "ID", "comment": "--comment",
            "exclude_sender": "--exclude-sender"}


def _as_option(exc: ConfigError) -> ConfigError:
    option = _OPTIONS.get(exc.field)
    if option is None:
        return exc
    message = exc.message
    if message.startswith(exc.field + ":"):
        message = option + message[len(exc.field):]
    return ConfigError(message, field=option, advice=exc.advice)


def _check(plan: Callable[[], object]) -> None:
    """Check the input before signing in (nothing is sent when it is bad)."""
    with errors_as_lines():
        try:
            plan()
        except ConfigError as exc:
            raise _as_option(exc) from None


def _body(body: str | None, body_file: str | None) -> str | None:
    if body is not None and body_file is not None:
        with errors_as_lines():
            raise ConfigError("give --body or --body-file, not both", field="--body",
                              advice="use one of them")
    if body_file is None:
        return body
    with errors_as_lines():
        try:
            return Path(body_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--body-file: cannot read {body_file!r}: {exc}",
                              field="--body-file", advice="give a readable UTF-8 text file"
                              ) from None


def _listed(values: Sequence[str]) -> list[str] | None:
    return list(values) or None


def _common(fn: F) -> F:
    """Options every sending command takes."""
    for decorator in reversed([
        click.option("--cc", multiple=True, metavar="ADDRESSES", help="Cc (repeat, or ',;')."),
        click.option("--bcc", multiple=True, metavar="ADDRESSES", help="Bcc."),
        click.option("--html", is_flag=True, help="The body is HTML."),
        click.option("--attach", "attach", multiple=True, metavar="FILE",
                     help="Attach a file (repeat; up to 150 MB in all)."),
        click.option("--skip-missing", is_flag=True,
                     help="Send without attachments whose file is missing (default: fail)."),
        click.option("--no-save-to-sent", "no_save", is_flag=True,
                     help="Keep no copy in Sent Items."),
        click.option("--body-file", default=None, metavar="FILE",
                     help="Read the body from a UTF-8 file."),
    ]):
        fn = decorator(fn)
    return connection_options(fn)


def _show(result: Any) -> None:
    show_table(["Status", "Mailbox", "Internet message id", "Send requests"],
               [[result.status, result.mailbox, result.internet_message_id, result.attempts]])
    for path in result.skipped:
        click.echo(f"Skipped missing attachment: {path}")


@click.command("send")
@click.option("--to", multiple=True, metavar="ADDRESSES", help="To (repeat, or ',;').")
@click.option("--reply-to", multiple=True, metavar="ADDRESSES", help="Reply-To.")
@click.option("--subject", default="", help="The subject.")
@click.option("--body", default=None, help="The body text (or --body-file).")
@click.option("--importance", type=click.Choice(["low", "normal", "high"]), default=None)
@click.option("--from-mailbox", default=None, metavar="ADDRESS",
              help="Send from this shared mailbox (as it; see --send-on-behalf).")
@click.option("--send-on-behalf", is_flag=True,
              help="With --from-mailbox: send on its behalf (sender: you) instead of as it.")
@_common
def send(to: Sequence[str], reply_to: Sequence[str], subject: str, body: str | None,
         importance: str | None, from_mailbox: str | None, send_on_behalf: bool,
         cc: Sequence[str], bcc: Sequence[str], html: bool, attach: Sequence[str],
         skip_missing: bool, no_save: bool, body_file: str | None, **opts: Any) -> None:
    """Send a new message (at most once)."""
    from m365bot.outlook.send import plan_send

    text = _body(body, body_file)
    args: dict[str, Any] = dict(
        to=_listed(to), cc=_listed(cc), bcc=_listed(bcc), reply_to=_listed(reply_to),
        subject=subject, body=text, html=html, importance=importance,
        attachments=list(attach), from_mailbox=from_mailbox,
        send_as="send_on_behalf" if send_on_behalf else "send_as",
        save_to_sent_items=not no_save, missing_attachments="skip" if skip_missing else "fail")
    _check(lambda: plan_send(opts.get("username") or "me", **args))
    with action(opts) as session, progress("Sending"):
        result = session.mail.send(**args)
    emit(result, as_json=opts["as_json"], table=_show)


def _reply_command(name: str, kind: str, doc: str) -> click.Command:
    @click.argument("message_id", metavar="ID")
    @click.option("--comment", default=None, help="Text above the quoted original.")
    @click.option("--body", default=None, help="The whole body instead (or --body-file).")
    @_common
    def command(message_id: str, comment: str | None, body: str | None, cc: Sequence[str],
                bcc: Sequence[str], html: bool, attach: Sequence[str], skip_missing: bool,
                no_save: bool, body_file: str | None, to: Sequence[str] = (),
                exclude_sender: bool = False, **opts: Any) -> None:
        from m365bot.outlook.send import plan_reply

        args: dict[str, Any] = dict(
            comment=comment, body=_body(body, body_file), html=html, cc=_listed(cc),
            bcc=_listed(bcc), attachments=list(attach), save_to_sent_items=not no_save,
            missing_attachments="skip" if skip_missing else "fail")
        if kind == "forward":
            args["to"] = _listed(to)
        if kind == "replyAll":
            args["exclude_sender"] = exclude_sender
        _check(lambda: plan_reply(opts.get("username") or "me", message_id, kind, **args))
        with action(opts) as session, progress("Sending"):
            method = {"reply": session.mail.reply, "replyAll": session.mail.reply_all,
                      "forward": session.mail.forward}[kind]
            result = method(message_id, **args)
        emit(result, as_json=opts["as_json"], table=_show)

    command.__doc__ = doc
    if kind == "forward":
        command = click.option("--to", multiple=True, required=True, metavar="ADDRESSES",
                               help="Forward to (repeat, or ',;').")(command)
    if kind == "replyAll":
        command = click.option("--exclude-sender", is_flag=True,
                               help="Answer the other recipients only.")(command)
    return click.command(name)(command)


reply = _reply_command("reply", "reply", "Reply to the sender of message ID (at most once).")
reply_all = _reply_command("reply-all", "replyAll",
                           "Reply to the sender and all recipients of message ID.")
forward = _reply_command("forward", "forward", "Forward message ID (at most once).")
COMMANDS = (send, reply, reply_all, forward)

__all__ = ["COMMANDS", "forward", "reply", "reply_all", "send"]

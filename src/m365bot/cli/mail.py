"""``m365bot mail``: the mail commands. Sending, replying and forwarding are in
:mod:`m365bot.cli.mail_send`.

Example::

    m365bot mail send --to bob@contoso.com --subject Hi --body Hello --profile ops
"""

from __future__ import annotations

import click

from m365bot.cli import mail_send


@click.group()
def mail() -> None:
    """Mail: send, reply, reply-all, forward."""


for _command in mail_send.COMMANDS:
    mail.add_command(_command)

__all__ = ["mail"]

"""``session.mail`` and ``session.aio.mail``: the mail actions of the session's mailbox.

The classes combine the resource modules: sending, replying and forwarding come from
:mod:`m365bot.outlook.send`.

Example::

    session.mail.send(to="bob@contoso.com", subject="Hi", body="Hello")
    await session.aio.mail.reply(mid, comment="Thanks")
"""

from __future__ import annotations

from m365bot.outlook.send import AsyncMailSend, MailSend


class Mail(MailSend):
    """The mail actions on ``session.mail``.

    Example::

        session.mail.forward(mid, to="carol@contoso.com", comment="FYI")
    """


class AsyncMail(AsyncMailSend):
    """The async twins on ``session.aio.mail``.

    Example::

        await session.aio.mail.send(to="bob@contoso.com", subject="Hi", body="Hello")
    """


__all__ = ["AsyncMail", "Mail"]

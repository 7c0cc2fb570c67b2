"""The Outlook actions on a session: ``session.folders``, ``session.mail``,
``session.calendar``, ``session.attachments``, and their async twins under ``session.aio``.

Each resource is one module under ``outlook/`` holding a sync class and its async twin, built
on the session's first use of it and reached through
:class:`~m365bot.outlook.session.OutlookSession`, the session that Connect returns (adding a
resource is one line there). The data they return are the frozen objects of
:mod:`m365bot.outlook.models`; the logic is written once as plans
(:mod:`m365bot.outlook.plans`) and run by both classes.

Example::

    session.folders.create("Inbox/Sales/2026")
    await session.aio.folders.exists("Inbox/Sales")
"""

from m365bot.outlook.session import RESOURCES, AsyncOutlook, OutlookSession, resource

__all__ = ["RESOURCES", "AsyncOutlook", "OutlookSession", "resource"]

"""The session Connect returns: a :class:`~m365bot.sessions.Session` with the Outlook actions
on it, ``session.folders``, ``session.mail``, ``session.attachments``, ``session.calendar``,
and their async twins under ``session.aio``. Each is built on the session's first use of it
and kept for the session's life.

**Adding a resource** is one line in :data:`RESOURCES`: ``name -> (module, sync class, async
class)``. The sync class is built as ``Sync(session)``, the async one as
``Async(session, sync_twin)`` so that both share state (a cache, a cursor). Then give it a
property on :class:`OutlookSession` and on :class:`AsyncOutlook`.

The actions know the session, not the other way round: :mod:`m365bot.sessions` holds the
connection (identity, Graph engine, descriptor) and imports nothing of ``outlook``.

Example::

    session.folders.create("Inbox/Sales/2026")
    await session.aio.folders.exists("Inbox/Sales")
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from m365bot.sessions import Session

if TYPE_CHECKING:
    from m365bot.outlook.calendar import AsyncCalendar, Calendar
    from m365bot.outlook.folders import AsyncFolders, Folders

RESOURCES: dict[str, tuple[str, str, str]] = {
    "folders": ("m365bot.outlook.folders", "Folders", "AsyncFolders"),
    "mail": ("m365bot.outlook.mail", "Mail", "AsyncMail"),
    "attachments": ("m365bot.outlook.attachments", "Attachments", "AsyncAttachments"),
    "calendar": ("m365bot.outlook.calendar", "Calendar", "AsyncCalendar"),
}

_LOCK = threading.RLock()


def resource(session: OutlookSession, name: str, *, is_async: bool = False) -> Any:
    """The session's ``name`` resource (sync, or its async twin), built on first use.

    Example::

        resource(session, "folders").exists("Inbox")
    """
    session._require_open()
    key = f"aio.{name}" if is_async else name
    with _LOCK:
        found = session._outlook.get(key)
        if found is not None:
            return found
        module_name, sync_name, async_name = RESOURCES[name]
        module = importlib.import_module(module_name)
        if is_async:
            built = getattr(module, async_name)(session, resource(session, name))
        else:
            built = getattr(module, sync_name)(session)
        session._outlook[key] = built
        return built


@dataclass(repr=False)
class OutlookSession(Session):
    """An open session to one mailbox with the Outlook actions (what Connect returns).

    Example::

        s = m365bot.connect(...)
        s.folders.create("Inbox/Sales"); s.mail.list("Inbox", status="unread")
    """

    _outlook: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def folders(self) -> Folders:
        """Mail folders: ``s.folders.create("Inbox/Sales")`` (see m365bot.outlook.folders)."""
        found: Folders = resource(self, "folders")
        return found

    @property
    def mail(self) -> Any:
        """Messages: list, get, send, reply, move... (m365bot.outlook.mail)."""
        return resource(self, "mail")

    @property
    def attachments(self) -> Any:
        """Attachments: list and save (m365bot.outlook.attachments)."""
        return resource(self, "attachments")

    @property
    def calendar(self) -> Calendar:
        """Events: range, get, create, update, delete, respond (m365bot.outlook.calendar)."""
        found: Calendar = resource(self, "calendar")
        return found

    @property
    def aio(self) -> AsyncOutlook:
        """The async twins: ``await s.aio.folders.exists("Inbox/Sales")``."""
        return AsyncOutlook(self)


class AsyncOutlook:
    """``session.aio``: the async twins of the session's resources.

    Example::

        folder = await session.aio.folders.create("Inbox/Sales")
    """

    def __init__(self, session: OutlookSession) -> None:
        self._session = session

    @property
    def folders(self) -> AsyncFolders:
        found: AsyncFolders = resource(self._session, "folders", is_async=True)
        return found

    @property
    def mail(self) -> Any:
        return resource(self._session, "mail", is_async=True)

    @property
    def attachments(self) -> Any:
        return resource(self._session, "attachments", is_async=True)

    @property
    def calendar(self) -> AsyncCalendar:
        found: AsyncCalendar = resource(self._session, "calendar", is_async=True)
        return found


__all__ = ["RESOURCES", "AsyncOutlook", "OutlookSession", "resource"]

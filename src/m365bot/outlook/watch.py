"""The new-mail trigger: "for each new email" in a folder, each email handled once across
runs, built on Graph's delta query (``/mailFolders/{id}/messages/delta``).

**The cursor** lives under the data folder (``Settings.data_dir/mail-watch/``), one file per
(mailbox, folder, filters), written atomically and readable by the owner only (0600). It
holds the ``@odata.deltaLink`` of the last finished poll and the ids of the emails that
arrived since the watch started (so that a later change to one, such as being read, is not
taken for a new email). Next to it, a journal (``.handled``) lists the emails handled in the
poll under way, one line each, flushed to disk after each handler returns; the deltaLink
moves on only when the poll ends. After a crash mid-batch, the next run asks Graph for the
same changes again and skips the emails the journal lists: none is handled twice, none lost.

**First run**: ``start="now"`` (the default) takes only mail received from the first poll on;
``start="all"`` hands over every email already in the folder first; a date or an aware
datetime starts there. The start is fixed in the cursor when it is made.

**Filters** are those of ``session.mail.list`` except ``search``: a delta query filters only
on the received time, so the others are checked on each new email as it arrives.

Example::

    def handle(email):
        print(email.subject)

    session.mail.watch("Inbox/Orders", handle, interval=30, senders=["shop@contoso.com"])
    for email in session.mail.new_emails("Inbox", status="unread"):  # one poll
        print(email.subject)                       # counted as handled when the loop goes on
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import json
import logging
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from m365bot.errors import ConfigError, GraphError
from m365bot.graph.batching import page_items
from m365bot.graph.core import mailbox_path
from m365bot.outlook.bulk import write_private
from m365bot.outlook.filters import (
    LIST_FIELDS,
    MATCH_FIELDS,
    MailFilter,
    mail_filter,
    matches,
    to_datetime,
)
from m365bot.outlook.folders import FolderRef
from m365bot.outlook.listing import check_folder
from m365bot.outlook.models import Email, MailFolder, format_datetime

if TYPE_CHECKING:
    from m365bot.outlook.session import OutlookSession

log = logging.getLogger(__name__)

PAGE_SIZE = 1000
Collected = tuple[list[dict[str, Any]], str | None]  # a round's delta items and its deltaLink
SELECT = ",".join(dict.fromkeys(("id", *LIST_FIELDS, *MATCH_FIELDS)))


# -- the cursor on disk ------------------------------------------------------------------------


def cursor_key(mailbox: str, folder_id: str, filters: MailFilter) -> str:
    """The file name stem of a trigger's cursor: a hash of mailbox, folder and filters."""
    text = json.dumps([mailbox.lower(), folder_id, filters.describe()], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass
class CursorState:
    """What a trigger remembers: where its next poll starts, and the emails it has seen."""

    start: str | None  # "all", or the ISO time the first poll starts from
    delta_link: str | None = None
    known: set[str] = field(default_factory=set)


class Cursor:
    """One trigger's cursor file and its journal (see the module docs).

    Example::

        c = Cursor(Path("~/.local/share/m365bot/mail-watch/ab12....json"))
        state = c.load()
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.journal = path.with_suffix(".handled")
        self._lock = threading.Lock()

    def load(self) -> CursorState | None:
        """The saved state, with the emails of an unfinished poll counted as seen; None if
        this trigger never ran."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"the trigger's cursor {self.path} cannot be read ({exc})",
                              field="cursor", advice="delete the file to start the trigger "
                              "afresh (emails already handled may come again)") from None
        state = CursorState(start=data.get("start"), delta_link=data.get("delta_link"),
                            known=set(data.get("known") or ()))
        with contextlib.suppress(FileNotFoundError):
            state.known |= {line.strip() for line in
                            self.journal.read_text(encoding="utf-8").splitlines() if line.strip()}
        return state

    def save(self, state: CursorState, about: Mapping[str, Any]) -> None:
        """Write the state atomically (a 0600 temporary file renamed over the old one), then
        clear the journal: its emails are in ``known`` now."""
        data = {"version": 1, **about, "start": state.start, "delta_link": state.delta_link,
                "known": sorted(state.known)}
        write_private(self.path, json.dumps(data).encode())
        with contextlib.suppress(FileNotFoundError):
            self.journal.unlink()

    def mark(self, message_id: str) -> None:
        """Record that ``message_id`` was handled (appended and flushed to disk)."""
        with self._lock:
            fd = os.open(self.journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, (message_id + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)


# -- one poll, without I/O ---------------------------------------------------------------------


def start_of(start: str | date | datetime) -> str:
    """The cursor's start: "all", or the ISO time from which mail counts as new."""
    if start == "all":
        return "all"
    if start == "now":
        return format_datetime(datetime.now(UTC))
    when = to_datetime(start, "start") if not isinstance(start, str) or start[:1].isdigit() \
        else None
    if when is None:
        raise ConfigError(f"start: {start!r} is not 'now', 'all' or a date", field="start",
                          advice="use 'now' (mail from now on), 'all' (the mail already "
                          "there too) or a date")
    return format_datetime(when)


def first_query(start: str | None) -> dict[str, Any]:
    """The query of a trigger's first delta request (the deltaLink keeps it afterwards)."""
    query: dict[str, Any] = {"$select": SELECT, "$top": PAGE_SIZE}
    if start and start != "all":
        query["$filter"] = f"receivedDateTime ge {start}"
    return query


def arrivals(items: Iterable[Mapping[str, Any]], state: CursorState,
             filters: MailFilter) -> list[dict[str, Any]]:
    """The new emails among a poll's delta items that pass ``filters``, oldest first.
    Updates ``state.known``: removed emails leave it, new ones join it (those handed over
    join only once handled, see :meth:`Cursor.mark`)."""
    new: dict[str, dict[str, Any]] = {}
    for item in items:
        mid = str(item.get("id") or "")
        if not mid:
            continue
        if "@removed" in item:
            state.known.discard(mid)
            new.pop(mid, None)
        elif mid not in state.known:
            new[mid] = dict(item)
    wanted = []
    for mid, item in new.items():
        if matches(filters, item):
            wanted.append(item)
        else:
            state.known.add(mid)  # arrived, not for us: a later change must not bring it
    return sorted(wanted, key=lambda i: str(i.get("receivedDateTime") or ""))


# -- the shells --------------------------------------------------------------------------------


class _Base:
    def __init__(self, session: OutlookSession, folder: FolderRef, *, start: str | date | datetime,
                 **filters: Any) -> None:
        check_folder(folder)
        if "search" in filters and filters["search"] is not None:
            raise ConfigError("search: a new-mail trigger cannot use a KQL search",
                              field="search", advice="use senders, subject_contains and the "
                              "other filters; a delta query cannot search")
        try:
            self.filters = mail_filter(**filters)
        except TypeError as exc:
            raise ConfigError(f"filters: {exc}", field="filters",
                              advice="use the filters of session.mail.list") from None
        self.start = start_of(start)
        self._session = session
        self.folder = folder
        self.box = mailbox_path(session.mailbox)
        self._stop = threading.Event()
        self._cursor: Cursor | None = None
        self._about: dict[str, Any] = {}
        self.handled = 0

    def stop(self) -> None:
        """Ask a running :meth:`run` to stop after the email in hand (thread/signal safe)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _open(self, folder_id: str, path: str | None) -> tuple[Cursor, CursorState, str, Any]:
        """The cursor (made, with the start fixed, on the first run) and the first URL."""
        if self._cursor is None:
            key = cursor_key(self._session.mailbox, folder_id, self.filters)
            root = self._session.graph.settings.data_dir / "mail-watch"
            self._cursor = Cursor(root / f"{key}.json")
            self._about = {"mailbox": self._session.mailbox, "folder_id": folder_id,
                           "folder": path, "filters": self.filters.describe()}
        state = self._cursor.load()
        if state is None:
            state = CursorState(start=self.start)
            self._cursor.save(state, self._about)
        if state.delta_link:
            return self._cursor, state, state.delta_link, None
        return self._cursor, state, *self._afresh(folder_id, state)

    def _afresh(self, folder_id: str, state: CursorState) -> tuple[str, dict[str, Any]]:
        """The first request of a delta round from the trigger's start (the emails it has
        seen are still known, so none comes twice)."""
        state.delta_link = None
        return (f"{self.box}/mailFolders/{folder_id}/messages/delta",
                first_query(state.start))

    def _hand_out(self, cursor: Cursor, state: CursorState, items: list[dict[str, Any]],
                  link: str | None) -> Iterator[dict[str, Any]]:
        """Each new email of the poll; one is marked handled when the caller comes back for
        the next; the deltaLink is saved when all are (not when the caller stops early)."""
        n = 0
        for item in arrivals(items, state, self.filters):
            if self.stopping:
                return
            yield item
            cursor.mark(item["id"])
            state.known.add(item["id"])
            n += 1
            self.handled += 1
        state.delta_link = link or state.delta_link
        cursor.save(state, self._about)
        log.info("mail trigger: %d new email(s) handled", n)


STALE_CODES = frozenset({"errorinvalidsyncstatedata", "syncstatenotfound", "syncstateinvalid",
                         "resyncrequired"})


def expired(exc: GraphError) -> bool:
    """Whether Graph refused a saved deltaLink as expired or unknown (410 Gone, or a sync
    state error): the trigger then starts a round afresh from its start."""
    if exc.status == 410 or (exc.code or "").lower() in STALE_CODES:
        log.warning("the mail trigger's saved position was refused (%s); starting afresh "
                    "from its start, skipping the emails already handled", exc.code)
        return True
    return False


def _absorb(body: Any, items: list[dict[str, Any]], link: str | None) -> str | None:
    """Add a delta page's items to ``items``; its deltaLink (on the last page) or ``link``."""
    items += page_items(body)
    found = body.get("@odata.deltaLink") if isinstance(body, dict) else None
    return found if isinstance(found, str) else link


class Watcher(_Base):
    """The new-mail trigger on one folder (``session.mail.watcher(...)``)."""

    def _folder(self) -> tuple[str, str | None]:
        if isinstance(self.folder, MailFolder):
            return self.folder.id, self.folder.path
        found = self._session.folders.get(self.folder, field="folder")
        return found.id, found.path

    def _collect(self, url: str, query: dict[str, Any] | None) -> Collected:
        items: list[dict[str, Any]] = []
        link = None
        for page in self._session.graph.pages(url, params=query, select=None, top=None):
            link = _absorb(page.body, items, link)
        return items, link

    def poll(self) -> Iterator[Email]:
        """One poll: each new email, oldest first. An email counts as handled when the
        caller asks for the next one (or the loop ends); the deltaLink moves on at the end."""
        folder_id, path = self._folder()
        cursor, state, url, query = self._open(folder_id, path)
        try:
            items, link = self._collect(url, query)
        except GraphError as exc:
            if query is not None or not expired(exc):
                raise
            items, link = self._collect(*self._afresh(folder_id, state))
        for item in self._hand_out(cursor, state, items, link):
            yield Email.from_graph(item)

    def run(self, handler: Callable[[Email], Any], *, once: bool = False,
            interval: float = 30.0) -> int:
        """Call ``handler`` for each new email; poll every ``interval`` seconds until
        :meth:`stop` (or once). Returns how many emails were handled."""
        _check_interval(interval)
        while True:
            for email in self.poll():
                handler(email)
            if once or self._stop.wait(interval):
                return self.handled


class AsyncWatcher(_Base):
    """The async twin of :class:`Watcher` (``session.aio.mail.watcher(...)``)."""

    async def _folder(self) -> tuple[str, str | None]:
        if isinstance(self.folder, MailFolder):
            return self.folder.id, self.folder.path
        found = await self._session.aio.folders.get(self.folder, field="folder")
        return found.id, found.path

    async def _collect(self, url: str, query: dict[str, Any] | None) -> Collected:
        items: list[dict[str, Any]] = []
        link = None
        async for page in self._session.agraph.pages(url, params=query, select=None,
                                                      top=None):
            link = _absorb(page.body, items, link)
        return items, link

    async def poll(self) -> AsyncIterator[Email]:
        """As :meth:`Watcher.poll`, with ``async for``."""
        folder_id, path = await self._folder()
        cursor, state, url, query = self._open(folder_id, path)
        try:
            items, link = await self._collect(url, query)
        except GraphError as exc:
            if query is not None or not expired(exc):
                raise
            items, link = await self._collect(*self._afresh(folder_id, state))
        for item in self._hand_out(cursor, state, items, link):
            yield Email.from_graph(item)

    async def run(self, handler: Callable[[Email], Any | Awaitable[Any]], *,
                  once: bool = False, interval: float = 30.0) -> int:
        """As :meth:`Watcher.run`; ``handler`` may be a coroutine function."""
        _check_interval(interval)
        while True:
            async for email in self.poll():
                result = handler(email)
                if inspect.isawaitable(result):
                    await result
            if once:
                return self.handled
            for _ in range(max(1, int(interval * 10))):
                if self.stopping:
                    return self.handled
                await asyncio.sleep(interval / max(1, int(interval * 10)))


def _check_interval(interval: float) -> None:
    if not isinstance(interval, int | float) or interval <= 0:
        raise ConfigError(f"interval: {interval!r} is not a positive number of seconds",
                          field="interval", advice="poll every 30 seconds or so")


__all__ = ["AsyncWatcher", "Cursor", "CursorState", "Watcher", "arrivals", "cursor_key",
           "first_query", "start_of"]

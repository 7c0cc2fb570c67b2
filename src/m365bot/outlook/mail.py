"""Reading mail: ``session.mail.list(...)`` (every matching message of a folder, newest first,
every page followed, filtered on the server) and ``session.mail.get(id)``; the new-mail
trigger ``session.mail.watch`` / ``new_emails`` (see :mod:`m365bot.outlook.watch`); async
twins under ``session.aio.mail``.

The folder is a path (``"Inbox/Sales"``) or a well-known name in any mailbox language, as
for :mod:`m365bot.outlook.folders`. The filters are checked, and the Graph query built, by
:mod:`m365bot.outlook.filters` before anything is sent: a bad filter, or a combination
Graph refuses and that cannot be rewritten, raises ConfigError naming the field.

Example::

    for email in session.mail.list("Inbox/Sales", status="unread",
                                   senders=["bob@contoso.com"], received_since="2026-11-01",
                                   fields=["subject", "from", "received"]):
        print(email.received, email.from_, email.subject)
    email = session.mail.get(email.id)                 # every field, body as text
    async for email in session.aio.mail.list("Inbox", search="invoice"): ...
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from m365bot.errors import NotFoundError
from m365bot.graph.batching import next_link, page_items
from m365bot.graph.core import mailbox_path
from m365bot.outlook.folderpaths import is_missing, missing, well_known_ref
from m365bot.outlook.folders import FolderRef
from m365bot.outlook.listing import Listing, get_request, prepare
from m365bot.outlook.manage import AsyncMailManage, MailManage
from m365bot.outlook.models import Email
from m365bot.outlook.send import AsyncMailSend, MailSend

if TYPE_CHECKING:
    from m365bot.graph.aclient import AsyncGraph
    from m365bot.graph.client import Graph, GraphResponse
    from m365bot.outlook.session import OutlookSession
    from m365bot.outlook.watch import AsyncWatcher, Watcher

log = logging.getLogger(__name__)

def _no_such_well_known(exc: NotFoundError, wk: str | None) -> NotFoundError:
    """The error for a listing that Graph answered 404: when the folder was named by its
    well-known name (no lookup first) and Graph says it does not exist (an archive that was
    never set up), the same error a lookup gives; any other 404 as it came."""
    if wk is None or not is_missing(exc):
        return exc
    return missing("folder", wk, None)


def pages_ahead(graph: Graph, path: str, listing: Listing) -> Iterator[list[dict[str, Any]]]:
    """The items of each page. A worker thread follows the nextLinks itself, up to two pages
    ahead of the caller: the next request goes out as soon as a page has arrived, not when
    the caller's thread gets round to it (turning 1,000 items into Emails takes about as long
    as a round trip, so the two overlap)."""
    ready: queue.Queue[list[dict[str, Any]] | BaseException | None] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def offer(page: list[dict[str, Any]] | BaseException | None) -> bool:
        while not stop.is_set():  # the caller may stop listening (a limit, a break)
            try:
                ready.put(page, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def fetch_all() -> None:
        try:
            url: str | None = path
            params: dict[str, Any] | None = listing.params
            got = 0
            while url is not None:
                body = graph.get(url, params=params, body_type=listing.body_type).body
                items = page_items(body)
                got += len(items)
                url, params = next_link(body), None
                if listing.limit is not None and got >= listing.limit:
                    url = None
                if not offer(items):
                    return
            offer(None)
        except BaseException as exc:  # raised again in the caller's thread
            offer(exc)

    with ThreadPoolExecutor(1, thread_name_prefix="m365bot-pages") as pool:
        pool.submit(fetch_all)
        try:
            while (page := ready.get()) is not None:
                if isinstance(page, BaseException):
                    raise page
                yield page
        finally:
            stop.set()


TURN_EVERY = 100  # items the caller's thread turns into Emails between two turns it gives


def _with_turns(pages: Iterator[list[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    """The items of ``pages``, giving the interpreter's lock away every ``TURN_EVERY`` items.
    The page worker needs the lock at each step of sending the next request; while this
    thread turned a page into Emails (about 5 ms per 1,000), the worker waited up to the
    switch interval (5 ms) at every step, and the next page went out late."""
    for page in pages:
        for i, item in enumerate(page, 1):
            yield item
            if i % TURN_EVERY == 0:
                time.sleep(0)  # releases the lock: a waiting worker runs now


# Turns of the event loop a request takes to reach the network in httpx: the connection
# pool's, the HTTP/2 connection's and the stream's locks and anyio's checkpoints each take
# one; 7 with httpx 0.28 and httpcore 1.0, counted with httpcore's "trace" extension.
SEND_TURNS = 8


async def apages_ahead(graph: AsyncGraph, path: str,
                       listing: Listing) -> AsyncIterator[list[dict[str, Any]]]:
    """The async twin of :func:`pages_ahead`: the next page is a task, given the turns it
    needs to go out before this page is worked through. With one turn, it went out only
    after several batches of 100 Emails, each between two turns (a listing of 10,000 at
    50 ms: 842 -> 777 ms; four mailboxes at once: 1,429 -> 1,339 ms)."""
    fetch: asyncio.Future[GraphResponse] | None = asyncio.ensure_future(
        graph.get(path, params=listing.params, body_type=listing.body_type))
    got = 0
    try:
        while fetch is not None:
            body = (await fetch).body
            items = page_items(body)
            got += len(items)
            link = next_link(body)
            fetch = None
            if link and (listing.limit is None or got < listing.limit):
                fetch = asyncio.ensure_future(graph.get(link, body_type=listing.body_type))
                for _ in range(SEND_TURNS):
                    await asyncio.sleep(0)
            yield items
    finally:
        if fetch is not None and not fetch.done():
            fetch.cancel()


class Mail(MailSend, MailManage):
    """The messages of the session's mailbox (``session.mail``).

    Example::

        for e in session.mail.list("Inbox", status="unread", limit=20):
            print(e.subject)
    """

    def __init__(self, session: OutlookSession) -> None:
        self._session = session
        self.box = mailbox_path(session.mailbox)

    def list(self, folder: FolderRef = "Inbox", *, status: str = "all",
             senders: str | Iterable[str] | None = None, subject_contains: str | None = None,
             received_since: str | date | datetime | None = None,
             received_until: str | date | datetime | None = None,
             has_attachments: bool | None = None, importance: str | None = None,
             category: str | None = None, search: str | None = None,
             fields: Sequence[str] | None = None, limit: int | None = None,
             page_size: int = 1000, body_type: str | None = None) -> Iterator[Email]:
        """Every message of ``folder`` matching the filters, newest first (with ``search``:
        Graph's order, newest sent first, at most 1,000). The arguments are checked now;
        the requests go out as you iterate, one page (up to ``page_size``) at a time.

        ``status``: all, read or unread; ``senders``: addresses (a list or "a,b");
        ``subject_contains``; ``received_since`` / ``received_until`` (a date, an aware
        datetime or ISO text; until is exclusive); ``has_attachments``; ``importance``
        (low, normal, high); ``category``; ``search``: KQL (``"from:bob AND invoice"``);
        ``fields``: Email names (``subject``, ``from``, ``received``...) or Graph names;
        ``limit``: stop after that many.
        """
        listing = prepare(folder, status=status, senders=senders,
                          subject_contains=subject_contains, received_since=received_since,
                          received_until=received_until, has_attachments=has_attachments,
                          importance=importance, category=category, search=search,
                          fields=fields, limit=limit, page_size=page_size, body_type=body_type)
        return self._list(listing)

    def _list(self, listing: Listing) -> Iterator[Email]:
        wk = well_known_ref(listing.folder)  # Graph takes it in place of the id: no lookup
        folder_id = wk or self._session.folders.resolve_id(listing.folder, field="folder")
        listing.started(folder_id)
        try:
            yield from listing.take(_with_turns(pages_ahead(
                self._session.graph, listing.path(self.box, folder_id), listing)))
        except NotFoundError as exc:
            raise _no_such_well_known(exc, wk) from None

    def get(self, message_id: str, *, fields: Sequence[str] | None = None,
            body_type: str | None = "text") -> Email:
        """One message by id: every field an Email carries (or ``fields``), the body as
        ``body_type`` ("text" or "html"). NotFoundError if there is no such message."""
        path, params, kind = get_request(self.box, message_id, fields, body_type)
        answer = self._session.graph.get(path, params=params, body_type=kind)
        log.info("read message %s", message_id[-12:])
        return Email.from_graph(answer.body or {})

    def watcher(self, folder: FolderRef = "Inbox", *, start: str = "now",
                **filters: Any) -> Watcher:
        """The new-mail trigger on ``folder`` (see :class:`m365bot.outlook.watch.Watcher`)."""
        from m365bot.outlook.watch import Watcher

        return Watcher(self._session, folder, start=start, **filters)

    def new_emails(self, folder: FolderRef = "Inbox", *, start: str = "now",
                   **filters: Any) -> Iterator[Email]:
        """Each email that arrived in ``folder`` since the last call (one poll); the cursor
        advances as you take each one (see :mod:`m365bot.outlook.watch`)."""
        return self.watcher(folder, start=start, **filters).poll()

    def watch(self, folder: FolderRef, handler: Callable[[Email], Any], *,
              once: bool = False, interval: float = 30.0, start: str = "now",
              **filters: Any) -> int:
        """Call ``handler(email)`` for each new email in ``folder``, once per email across
        runs; poll every ``interval`` seconds until stopped (``once``: one poll). Returns how
        many emails were handled."""
        return self.watcher(folder, start=start, **filters).run(handler, once=once,
                                                                interval=interval)


class AsyncMail(AsyncMailSend, AsyncMailManage):
    """The async twin of :class:`Mail` (``session.aio.mail``).

    Example::

        async for e in session.aio.mail.list("Inbox", status="unread"):
            print(e.subject)
    """

    def __init__(self, session: OutlookSession, twin: Mail) -> None:
        self._session = session
        self.box = twin.box

    def list(self, folder: FolderRef = "Inbox", *, status: str = "all",
             senders: str | Iterable[str] | None = None, subject_contains: str | None = None,
             received_since: str | date | datetime | None = None,
             received_until: str | date | datetime | None = None,
             has_attachments: bool | None = None, importance: str | None = None,
             category: str | None = None, search: str | None = None,
             fields: Sequence[str] | None = None, limit: int | None = None,
             page_size: int = 1000, body_type: str | None = None) -> AsyncIterator[Email]:
        """As :meth:`Mail.list`; iterate with ``async for`` (checked at the call)."""
        listing = prepare(folder, status=status, senders=senders,
                          subject_contains=subject_contains, received_since=received_since,
                          received_until=received_until, has_attachments=has_attachments,
                          importance=importance, category=category, search=search,
                          fields=fields, limit=limit, page_size=page_size, body_type=body_type)
        return self._list(listing)

    async def _list(self, listing: Listing) -> AsyncIterator[Email]:
        wk = well_known_ref(listing.folder)  # Graph takes it in place of the id: no lookup
        folder_id = wk or await self._session.aio.folders.resolve_id(listing.folder,
                                                                     field="folder")
        listing.started(folder_id)
        try:
            async for email in self._emails(listing, folder_id):
                yield email
        except NotFoundError as exc:
            raise _no_such_well_known(exc, wk) from None

    async def _emails(self, listing: Listing, folder_id: str) -> AsyncIterator[Email]:
        n = 0
        async for page in apages_ahead(self._session.agraph,
                                       listing.path(self.box, folder_id), listing):
            for item in page:
                if listing.limit is not None and n >= listing.limit:
                    return
                n += 1
                yield Email.from_graph(item)
                if n % 100 == 0:
                    # let the loop send and read the other requests (the next page, other
                    # mailboxes) while a long page is worked through
                    await asyncio.sleep(0)
        listing.finished(n)

    async def get(self, message_id: str, *, fields: Sequence[str] | None = None,
                  body_type: str | None = "text") -> Email:
        """As :meth:`Mail.get`."""
        path, params, kind = get_request(self.box, message_id, fields, body_type)
        answer = await self._session.agraph.get(path, params=params, body_type=kind)
        log.info("read message %s", message_id[-12:])
        return Email.from_graph(answer.body or {})

    def watcher(self, folder: FolderRef = "Inbox", *, start: str = "now",
                **filters: Any) -> AsyncWatcher:
        """The async new-mail trigger (see :class:`m365bot.outlook.watch.AsyncWatcher`)."""
        from m365bot.outlook.watch import AsyncWatcher

        return AsyncWatcher(self._session, folder, start=start, **filters)

    def new_emails(self, folder: FolderRef = "Inbox", *, start: str = "now",
                   **filters: Any) -> AsyncIterator[Email]:
        """As :meth:`Mail.new_emails`, with ``async for``."""
        return self.watcher(folder, start=start, **filters).poll()

    async def watch(self, folder: FolderRef, handler: Callable[[Email], Any], *,
                    once: bool = False, interval: float = 30.0, start: str = "now",
                    **filters: Any) -> int:
        """As :meth:`Mail.watch`; ``handler`` may be a coroutine function."""
        return await self.watcher(folder, start=start, **filters).run(
            handler, once=once, interval=interval)


__all__ = ["AsyncMail", "Mail"]

"""Mail folders: exists, get, list the tree, create nested paths, rename, move and delete.

A folder is named by a path such as ``"Inbox/Sales/2026"`` (or a list of segments, for a name
that contains ``/``). The first segment is matched against Graph's well-known folder names
first, in any case and with spaces ignored (``inbox``, ``Sent Items``, ``deleteditems``...),
so ``"Inbox/Sales"`` works in a mailbox whose Inbox is called "Posteingang"; otherwise it is a
folder directly under the top of the mailbox. Further segments are child folders, matched by
display name without regard to case, as Outlook does.

Resolved paths are cached for the session; rename, move and delete clear the cache. A path
that cannot be a folder (empty, ``Inbox//x``, ``..``) raises ConfigError before any request;
an unknown folder raises NotFoundError naming the field and the missing segment.

Example::

    f = session.folders.create("Inbox/Sales/2026")      # creates the missing levels
    session.folders.exists("inbox/sales")                # True
    for node in session.folders.tree():
        for folder in node.walk():
            print(folder.path, folder.unread_count)
    session.folders.rename("Inbox/Sales/2026", "2026 (closed)")
    session.folders.move("Inbox/Sales", "Archive")
    session.folders.delete("Archive/Sales")
    await session.aio.folders.get("Inbox")               # the async twin
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from m365bot.errors import ConfigError, GraphError, NotFoundError
from m365bot.graph.core import mailbox_path
from m365bot.outlook.folderpaths import (
    WELL_KNOWN_FOLDERS,
    PathNotFound,
    check_name,
    is_missing,
    join,
    missing,
    parse_path,
    quote,
    refuse_well_known,
    well_known_name,
)
from m365bot.outlook.models import FolderNode, MailFolder
from m365bot.outlook.plans import Call, Plan, arun, run

if TYPE_CHECKING:
    from m365bot.graph.client import GraphResponse
    from m365bot.sessions import Session

log = logging.getLogger(__name__)
T = TypeVar("T")

SELECT = "id,displayName,parentFolderId,childFolderCount,unreadItemCount,totalItemCount,isHidden"
FolderRef = str | Sequence[str] | MailFolder
"""A folder: a path ("Inbox/Sales"), its segments (["Inbox", "A/B"]), or a MailFolder (its id)."""


class FolderPlans:
    """The folder logic as plans (see :mod:`m365bot.outlook.plans`), with the session's
    cache of resolved paths. Shared by :class:`Folders` and :class:`AsyncFolders`."""

    def __init__(self, mailbox: str) -> None:
        self.box = mailbox_path(mailbox)
        self._cache: dict[tuple[str, ...], MailFolder] = {}
        self._lock = threading.Lock()

    # -- the cache ------------------------------------------------------------------------
    @staticmethod
    def _key(segments: Sequence[str]) -> tuple[str, ...]:
        first = well_known_name(segments[0]) or segments[0].casefold()
        return (first, *(s.casefold() for s in segments[1:]))

    def _remember(self, segments: Sequence[str], folder: MailFolder) -> None:
        with self._lock:
            self._cache[self._key(segments)] = folder

    def _cached_prefix(self, segments: Sequence[str]) -> tuple[int, MailFolder | None]:
        with self._lock:
            for n in range(len(segments), 0, -1):
                found = self._cache.get(self._key(segments[:n]))
                if found is not None:
                    return n, found
        return 0, None

    def forget(self) -> None:
        """Drop every cached path (after a rename, move or delete)."""
        with self._lock:
            self._cache.clear()

    # -- plans ----------------------------------------------------------------------------
    def _step(self, parent: MailFolder | None, segment: str, field: str) -> Plan[MailFolder]:
        """One level down: the child of ``parent`` (None: the top) named ``segment``."""
        if parent is None:
            wk = well_known_name(segment)
            if wk is not None:
                try:
                    answer = yield Call("GET", f"{self.box}/mailFolders/{wk}",
                                        params={"$select": SELECT})
                except GraphError as exc:
                    if is_missing(exc):
                        raise missing(field, segment, None) from None
                    raise
                body = answer.body or {}
                return MailFolder.from_graph(body, path=body.get("displayName") or segment,
                                             well_known_name=wk)
            url = f"{self.box}/mailFolders"
        else:
            url = f"{self.box}/mailFolders/{parent.id}/childFolders"
        answer = yield Call("GET", url, params={
            "$filter": f"displayName eq '{quote(segment)}'", "includeHiddenFolders": "true",
            "$select": SELECT})
        items = (answer.body or {}).get("value") or []
        for item in items:
            if str(item.get("displayName") or "").casefold() == segment.casefold():
                return MailFolder.from_graph(item, path=join(parent, item["displayName"]))
        raise missing(field, segment, parent.path if parent else None)

    def _fresh(self, make: Callable[[], Plan[T]]) -> Plan[T]:
        """Run ``make()``; if Graph says an id we remembered is gone (another bot deleted the
        folder), forget what we remembered and run it once more. A path that Graph's listing
        shows to be absent (PathNotFound) is an answer, not a stale id."""
        with self._lock:
            used_cache = bool(self._cache)
        try:
            return (yield from make())
        except NotFoundError as exc:
            if not used_cache or exc.code != "ErrorItemNotFound" or isinstance(exc, PathNotFound):
                raise
            log.info("a remembered folder is gone; looking the path up again")
            self.forget()
            return (yield from make())

    def resolve(self, segments: Sequence[str], field: str) -> Plan[MailFolder]:
        """The folder at ``segments`` (cached prefixes are not asked again)."""
        return (yield from self._fresh(lambda: self._resolve(segments, field)))

    def _resolve(self, segments: Sequence[str], field: str) -> Plan[MailFolder]:
        start, folder = self._cached_prefix(segments)
        for i in range(start, len(segments)):
            folder = yield from self._step(folder, segments[i], field)
            self._remember(segments[: i + 1], folder)
        assert folder is not None  # segments is never empty (parse_path)
        return folder

    def exists(self, segments: Sequence[str], field: str) -> Plan[bool]:
        try:
            yield from self.resolve(segments, field)
        except GraphError as exc:
            if is_missing(exc):
                return False
            raise
        return True

    def get_by_id(self, folder_id: str) -> Plan[MailFolder]:
        answer = yield Call("GET", f"{self.box}/mailFolders/{folder_id}",
                            params={"$select": SELECT})
        return MailFolder.from_graph(answer.body or {})

    def create(self, segments: Sequence[str], field: str) -> Plan[MailFolder]:
        """The folder at ``segments``, creating each missing level (idempotent)."""
        for segment in segments:
            check_name(segment, field=field)
        return (yield from self._fresh(lambda: self._create(segments, field)))

    def _create(self, segments: Sequence[str], field: str) -> Plan[MailFolder]:
        depth, folder = self._cached_prefix(segments)
        while depth < len(segments):
            try:
                folder = yield from self._step(folder, segments[depth], field)
            except GraphError as exc:
                if not is_missing(exc) or (depth == 0 and well_known_name(segments[0])):
                    raise
                break
            depth += 1
            self._remember(segments[:depth], folder)
        made = 0
        while depth < len(segments):
            name = segments[depth].strip()
            url = (f"{self.box}/mailFolders" if folder is None
                   else f"{self.box}/mailFolders/{folder.id}/childFolders")
            try:
                answer = yield Call("POST", url, json={"displayName": name})
                folder = MailFolder.from_graph(answer.body or {}, path=join(folder, name))
                made += 1
            except GraphError as exc:
                if exc.code != "ErrorFolderExists":
                    raise
                # made by someone else between our look and our create: use theirs
                folder = yield from self._step(folder, name, field)
            depth += 1
            self._remember(segments[:depth], folder)
        assert folder is not None
        if made:
            log.info("created %d folder level(s) for %s", made, folder.path)
        return folder

    def rename(self, segments: Sequence[str], new_name: str, field: str,
               name_field: str = "new_name") -> Plan[MailFolder]:
        name = check_name(new_name, field=name_field)
        refuse_well_known(segments, "renamed", field)

        def patch() -> Plan[tuple[MailFolder, GraphResponse]]:
            folder = yield from self._resolve(segments, field)
            return folder, (yield Call("PATCH", f"{self.box}/mailFolders/{folder.id}",
                                       json={"displayName": name}))

        folder, answer = yield from self._fresh(patch)
        self.forget()
        parent = folder.path.rsplit("/", 1)[0] + "/" if folder.path and "/" in folder.path else ""
        log.info("renamed folder %s to %s", folder.path, name)
        return MailFolder.from_graph(answer.body or {}, path=parent + name)

    def move(self, segments: Sequence[str], destination: Sequence[str], field: str,
             dest_field: str) -> Plan[MailFolder]:
        refuse_well_known(segments, "moved", field)
        if self._key(destination)[: len(segments)] == self._key(segments):
            raise ConfigError(f"{dest_field}: cannot move a folder into itself or below it",
                              field=dest_field, advice="choose a destination outside the folder")

        def post() -> Plan[tuple[MailFolder, MailFolder, GraphResponse]]:
            folder = yield from self._resolve(segments, field)
            target = yield from self._resolve(destination, dest_field)
            return folder, target, (yield Call(
                "POST", f"{self.box}/mailFolders/{folder.id}/move",
                json={"destinationId": target.id}))

        folder, target, answer = yield from self._fresh(post)
        self.forget()
        log.info("moved folder %s to %s", folder.path, target.path)
        body = answer.body or {}
        return MailFolder.from_graph(body, path=join(target, body.get("displayName") or ""))

    def delete(self, segments: Sequence[str], field: str) -> Plan[None]:
        refuse_well_known(segments, "deleted", field)

        def delete() -> Plan[MailFolder]:
            folder = yield from self._resolve(segments, field)
            yield Call("DELETE", f"{self.box}/mailFolders/{folder.id}")
            return folder

        folder = yield from self._fresh(delete)
        self.forget()
        log.info("deleted folder %s", folder.path)

    def children(self, parent: MailFolder | None, *, hidden: bool,
                 page_size: int) -> Plan[list[MailFolder]]:
        """Every child folder of ``parent`` (None: the top), following every page."""
        url: str | None = (f"{self.box}/mailFolders" if parent is None
                           else f"{self.box}/mailFolders/{parent.id}/childFolders")
        params: dict[str, Any] | None = {"$top": page_size, "$select": SELECT}
        if hidden and params is not None:
            params["includeHiddenFolders"] = "true"
        found: list[MailFolder] = []
        while url:
            answer = yield Call("GET", url, params=params)
            body = answer.body or {}
            found += [MailFolder.from_graph(item, path=join(parent, item.get("displayName")))
                      for item in body.get("value") or []]
            url, params = body.get("@odata.nextLink"), None  # the link keeps the options
        return found

    def tree(self, root: Sequence[str] | None, *, hidden: bool, page_size: int,
             field: str) -> Plan[tuple[FolderNode, ...]]:
        def walk() -> Plan[tuple[FolderNode, ...]]:
            top = None if root is None else (yield from self._resolve(root, field))
            return (yield from self._subtree(top, hidden=hidden, page_size=page_size))

        return (yield from self._fresh(walk))

    def _subtree(self, parent: MailFolder | None, *, hidden: bool,
                 page_size: int) -> Plan[tuple[FolderNode, ...]]:
        nodes = []
        for child in (yield from self.children(parent, hidden=hidden, page_size=page_size)):
            below: tuple[FolderNode, ...] = ()
            if child.child_count != 0:
                below = yield from self._subtree(child, hidden=hidden, page_size=page_size)
            nodes.append(FolderNode(child, below))
        return tuple(nodes)


def _segments(folder: str | Sequence[str], field: str) -> tuple[str, ...]:
    return parse_path(folder, field=field)


class Folders:
    """The mail folders of the session's mailbox (``session.folders``).

    Example::

        session.folders.create("Inbox/Sales/2026")
        session.folders.exists("INBOX/sales")   # True
    """

    def __init__(self, session: Session) -> None:
        self._session = session
        self.plans = FolderPlans(session.mailbox)

    def _run(self, plan: Plan[T]) -> T:
        return run(self._session, plan)

    def get(self, folder: str | Sequence[str], *, field: str = "folder") -> MailFolder:
        """The folder at a path; NotFoundError if it does not exist."""
        return self._run(self.plans.resolve(_segments(folder, field), field))

    def forget(self) -> None:
        """Drop the remembered paths: call it when another program may have renamed or moved
        folders while this session runs (a deleted one is noticed by itself)."""
        self.plans.forget()

    def get_by_id(self, folder_id: str) -> MailFolder:
        """The folder with this Graph id."""
        return self._run(self.plans.get_by_id(folder_id))

    def resolve_id(self, folder: FolderRef, *, field: str = "folder") -> str:
        """The Graph id of a folder given as a path, segments or MailFolder (for actions)."""
        if isinstance(folder, MailFolder):
            return folder.id
        return self.get(folder, field=field).id

    def exists(self, folder: str | Sequence[str], *, field: str = "folder") -> bool:
        """True if the folder exists (a bad path still raises ConfigError)."""
        return self._run(self.plans.exists(_segments(folder, field), field))

    def tree(self, folder: str | Sequence[str] | None = None, *, include_hidden: bool = False,
             page_size: int = 250, field: str = "folder") -> tuple[FolderNode, ...]:
        """The folders below ``folder`` (default: the whole mailbox), every level and page."""
        root = None if folder is None else _segments(folder, field)
        return self._run(self.plans.tree(root, hidden=include_hidden, page_size=page_size,
                                         field=field))

    def create(self, folder: str | Sequence[str], *, field: str = "folder") -> MailFolder:
        """The folder at the path, creating every missing level; an existing one is returned."""
        return self._run(self.plans.create(_segments(folder, field), field))

    def rename(self, folder: str | Sequence[str], new_name: str, *, field: str = "folder",
               name_field: str = "new_name") -> MailFolder:
        """Give the folder a new display name (it stays where it is)."""
        return self._run(self.plans.rename(_segments(folder, field), new_name, field,
                                           name_field))

    def move(self, folder: str | Sequence[str], destination: str | Sequence[str], *,
             field: str = "folder", dest_field: str = "destination") -> MailFolder:
        """Move the folder (with everything in it) under ``destination``."""
        return self._run(self.plans.move(_segments(folder, field),
                                         _segments(destination, dest_field), field, dest_field))

    def delete(self, folder: str | Sequence[str], *, field: str = "folder") -> None:
        """Delete the folder and its contents (Graph moves it to Deleted Items)."""
        self._run(self.plans.delete(_segments(folder, field), field))


class AsyncFolders:
    """The async twin of :class:`Folders` (``session.aio.folders``), sharing its path cache.

    Example::

        folder = await session.aio.folders.create("Inbox/Sales/2026")
    """

    def __init__(self, session: Session, twin: Folders) -> None:
        self._session = session
        self.plans = twin.plans  # one path cache for both

    async def _run(self, plan: Plan[T]) -> T:
        return await arun(self._session, plan)

    async def get(self, folder: str | Sequence[str], *, field: str = "folder") -> MailFolder:
        return await self._run(self.plans.resolve(_segments(folder, field), field))

    async def get_by_id(self, folder_id: str) -> MailFolder:
        return await self._run(self.plans.get_by_id(folder_id))

    async def resolve_id(self, folder: FolderRef, *, field: str = "folder") -> str:
        if isinstance(folder, MailFolder):
            return folder.id
        return (await self.get(folder, field=field)).id

    async def exists(self, folder: str | Sequence[str], *, field: str = "folder") -> bool:
        return await self._run(self.plans.exists(_segments(folder, field), field))

    async def tree(self, folder: str | Sequence[str] | None = None, *,
                   include_hidden: bool = False, page_size: int = 250,
                   field: str = "folder") -> tuple[FolderNode, ...]:
        root = None if folder is None else _segments(folder, field)
        return await self._run(self.plans.tree(root, hidden=include_hidden,
                                               page_size=page_size, field=field))

    async def create(self, folder: str | Sequence[str], *, field: str = "folder") -> MailFolder:
        return await self._run(self.plans.create(_segments(folder, field), field))

    async def rename(self, folder: str | Sequence[str], new_name: str, *,
                     field: str = "folder", name_field: str = "new_name") -> MailFolder:
        return await self._run(self.plans.rename(_segments(folder, field), new_name, field,
                                                 name_field))

    async def move(self, folder: str | Sequence[str], destination: str | Sequence[str], *,
                   field: str = "folder", dest_field: str = "destination") -> MailFolder:
        return await self._run(self.plans.move(_segments(folder, field),
                                               _segments(destination, dest_field), field,
                                               dest_field))

    async def delete(self, folder: str | Sequence[str], *, field: str = "folder") -> None:
        await self._run(self.plans.delete(_segments(folder, field), field))


__all__ = ["WELL_KNOWN_FOLDERS", "AsyncFolders", "FolderPlans", "FolderRef", "Folders",
           "check_name", "parse_path", "well_known_name"]

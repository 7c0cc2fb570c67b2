"""Move, copy and delete emails; mark them read or unread, flag, unflag or complete them, set
or clear their categories. One email at a time, or in bulk for every email matching the
filters of ``session.mail.list`` (or a list of ids), through ``$batch`` with a journal that
resumes a crashed run (:mod:`m365bot.outlook.bulk`).

**Ids.** Outlook gives a moved email a new id. These actions ask Graph for *immutable ids*
(``Prefer: IdType="ImmutableId"``): ``move`` returns the email's immutable id, which stays the
same through later moves, and the bulk actions list and journal emails by it. A plain id
from ``session.mail.list`` is accepted everywhere.

**Delete** moves the email to Deleted Items, as Outlook's Delete key does (Graph's own
``DELETE`` puts it in the hidden Recoverable Items folder instead); ``permanent=True`` uses
``permanentDelete``, which cannot be undone.

**Exactly once.** Marking, flagging and categorizing set a value, so a resend is harmless. A
move, copy or permanent delete that got no clear answer (503, 504, a lost connection, a 429
that Outlook nevertheless ran) is not sent again blindly: the action first asks Graph whether
it was applied (is the email in the target folder? is a copy with its internetMessageId
there? is it gone?).

Example::

    new_id = session.mail.move(mid, "Inbox/Done")
    session.mail.mark_read(new_id)
    session.mail.flag(new_id, due=datetime(2026, 12, 1, tzinfo=UTC))
    session.mail.set_categories(new_id, ["Invoices"])
    session.mail.delete(new_id)                       # to Deleted Items
    results = session.mail.move_all("Archive", folder="Inbox", senders="shop@kunde.example")
    await session.aio.mail.mark_all(read=True, folder="Inbox/Sales", status="unread")
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from m365bot.errors import ConfigError, GraphError, NotFoundError, TransportError
from m365bot.graph.core import mailbox_path
from m365bot.outlook.bulk import (
    BulkItem,
    Progress,
    ambiguous,
    arun_job,
    check_job_id,
    job_for,
    run_job,
    unique,
)
from m365bot.outlook.folderpaths import parse_path
from m365bot.outlook.folders import FolderPlans, FolderRef
from m365bot.outlook.listing import Listing, check_id, prepare
from m365bot.outlook.models import Email, Flag, MailFolder, Result
from m365bot.outlook.plans import Call, Plan, arun, run

if TYPE_CHECKING:
    from m365bot.graph.client import GraphResponse
    from m365bot.outlook.session import OutlookSession

log = logging.getLogger(__name__)

IMMUTABLE = {"Prefer": 'IdType="ImmutableId"'}
FLAG_STATUSES = ("flagged", "complete", "notFlagged")
EmailRef = str | Email
"""An email: its id, or the Email that ``session.mail.list`` gave."""


# -- checks (no I/O) ---------------------------------------------------------------------------

def email_id(email: EmailRef, field: str = "id") -> str:
    """The id of an email given as an id or an Email; ConfigError if it cannot be one."""
    return check_id(email.id if isinstance(email, Email) else email, field)


def folder_segments(folder: FolderRef, field: str) -> tuple[str, ...] | MailFolder:
    if isinstance(folder, MailFolder):
        return folder
    return parse_path(folder, field=field)


def categories_of(categories: str | Iterable[str], field: str = "categories") -> list[str]:
    names = [categories] if isinstance(categories, str) else list(categories)
    out: list[str] = []
    for name in names:
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise ConfigError(f"{field}: {name!r} is not a category name", field=field,
                              advice="give category names as text (up to 255 characters)")
        if name.strip() not in out:
            out.append(name.strip())
    return out


def flag_body(status: str, due: datetime | None, field: str = "status") -> dict[str, Any]:
    """The PATCH body of a flag change (Graph wants a start with a due date)."""
    if status not in FLAG_STATUSES:
        raise ConfigError(f"{field}: {status!r} is not a flag status", field=field,
                          advice=f"use one of {', '.join(FLAG_STATUSES)}")
    if due is not None and (not isinstance(due, datetime) or due.tzinfo is None):
        raise ConfigError("due: give an aware datetime (with a time zone)", field="due",
                          advice="for example datetime(2026, 12, 1, 17, tzinfo=UTC)")
    if due is not None and status != "flagged":
        raise ConfigError("due: only a flagged email has a due date", field="due",
                          advice="leave due out, or use status='flagged'")
    start = None if due is None else min(datetime.now(UTC), due)
    return {"flag": Flag(status, due=due, start=start).to_graph()}


def eml_path(path: Path, overwrite: bool) -> Path | None:
    """The file to write a whole email to, or None when ``path`` is a folder (the name then
    comes from the subject). ConfigError if the file exists and ``overwrite`` is off."""
    if path.is_dir():
        return None
    if path.exists() and not overwrite:
        raise ConfigError(f"path: {str(path)!r} exists", field="path",
                          advice="choose another file name, or pass overwrite=True "
                          "(--overwrite)")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def eml_in_folder(folder: Path, subject: str | None, overwrite: bool) -> Path:
    from m365bot.outlook.filenames import safe_name, unique_name

    name = safe_name(subject, fallback="email", ext=".eml")
    if not overwrite:
        name = unique_name(name, lambda n: (folder / n).exists())
    return folder / name


# -- plans of one email ------------------------------------------------------------------------

class ManagePlans:
    """The actions as plans (:mod:`m365bot.outlook.plans`), shared by both shells."""

    def __init__(self, box: str, folders: FolderPlans) -> None:
        self.box = box
        self.folders = folders

    def url(self, mid: str, tail: str = "") -> str:
        return f"{self.box}/messages/{mid}{tail}"

    def target(self, folder: tuple[str, ...] | MailFolder, field: str) -> Plan[MailFolder]:
        if isinstance(folder, MailFolder):
            return folder
        return (yield from self.folders.resolve(folder, field))

    # "was it applied?"
    def located(self, mid: str, folder_id: str) -> Plan[str | None]:
        """The email's immutable id if it is in the folder now, else None."""
        try:
            answer = yield Call("GET", self.url(mid), params={"$select": "parentFolderId"},
                                headers=IMMUTABLE)
        except NotFoundError:
            return None
        body = answer.body or {}
        return str(body.get("id") or mid) if body.get("parentFolderId") == folder_id else None

    def moved(self, mid: str, folder_id: str) -> Plan[bool]:
        return (yield from self.located(mid, folder_id)) is not None

    def copied(self, mid: str, folder_id: str) -> Plan[bool]:
        """True when the target folder holds a message with the email's internetMessageId."""
        answer = yield Call("GET", self.url(mid), params={"$select": "internetMessageId"})
        imid = (answer.body or {}).get("internetMessageId")
        if not imid:
            return False
        found = yield Call("GET", f"{self.box}/mailFolders/{folder_id}/messages", params={
            "$filter": "internetMessageId eq '{}'".format(str(imid).replace("'", "''")),
            "$select": "id", "$top": 1})
        return bool((found.body or {}).get("value"))

    def gone(self, mid: str) -> Plan[bool]:
        try:
            yield Call("GET", self.url(mid), params={"$select": "id"})
        except NotFoundError:
            return True
        return False

    def once(self, call: Call, check: Callable[[], Plan[bool]]) -> Plan[GraphResponse | None]:
        """Send a non-idempotent ``call``; after an unclear failure, send it again only if
        ``check`` says it was not applied. None: applied, its answer lost."""
        for attempt in range(3):
            try:
                return (yield call)
            except (GraphError, TransportError) as exc:
                if not ambiguous(exc) or attempt == 2:
                    raise
                if (yield from check()):
                    log.info("the request was applied although its answer was lost")
                    return None
        raise AssertionError("unreachable")

    def move(self, mid: str, folder: tuple[str, ...] | MailFolder, field: str,
             action: str = "move") -> Plan[str]:
        target = yield from self.target(folder, field)
        answer = yield from self.once(
            Call("POST", self.url(mid, "/move"), json={"destinationId": target.id},
                 headers=IMMUTABLE),
            lambda: self.moved(mid, target.id))
        new_id = (answer.body or {}).get("id") if answer is not None else None
        if new_id is None:
            new_id = (yield from self.located(mid, target.id)) or mid
        log.info("%s: message %s to folder %s", action, mid[-12:], target.path or target.id[-12:])
        return str(new_id)

    def copy(self, mid: str, folder: tuple[str, ...] | MailFolder, field: str) -> Plan[str]:
        target = yield from self.target(folder, field)
        answer = yield from self.once(
            Call("POST", self.url(mid, "/copy"), json={"destinationId": target.id},
                 headers=IMMUTABLE),
            lambda: self.copied(mid, target.id))
        log.info("copied message %s to folder %s", mid[-12:], target.path or target.id[-12:])
        return str((answer.body or {}).get("id") or "") if answer is not None else ""

    def delete(self, mid: str, permanent: bool) -> Plan[None]:
        if not permanent:
            yield from self.move(mid, ("deleteditems",), "folder", action="delete")
            return
        yield from self.once(Call("POST", self.url(mid, "/permanentDelete")),
                             lambda: self.gone(mid))
        log.info("deleted message %s permanently", mid[-12:])

    def patch(self, mid: str, body: dict[str, Any], what: str) -> Plan[None]:
        yield Call("PATCH", self.url(mid), json=body, guarded=True)
        log.info("%s: message %s", what, mid[-12:])

    # -- bulk items ----------------------------------------------------------------------
    def move_item(self, mid: str, folder_id: str) -> BulkItem:
        return BulkItem(mid, "POST", self.url(mid, "/move"), {"destinationId": folder_id},
                        dict(IMMUTABLE), check=lambda: self.moved(mid, folder_id))

    def copy_item(self, mid: str, folder_id: str) -> BulkItem:
        return BulkItem(mid, "POST", self.url(mid, "/copy"), {"destinationId": folder_id},
                        dict(IMMUTABLE), check=lambda: self.copied(mid, folder_id))

    def purge_item(self, mid: str) -> BulkItem:
        return BulkItem(mid, "POST", self.url(mid, "/permanentDelete"),
                        check=lambda: self.gone(mid))

    def patch_item(self, mid: str, body: dict[str, Any]) -> BulkItem:
        return BulkItem(mid, "PATCH", self.url(mid), body, guarded=True)


# -- bulk: which emails ------------------------------------------------------------------------

def listing_of(folder: FolderRef, filters: dict[str, Any]) -> Listing:
    """The checked listing of a bulk action's emails (mail.list's filters; ids only)."""
    args: dict[str, Any] = {"status": "all", "senders": None, "subject_contains": None,
            "received_since": None, "received_until": None, "has_attachments": None,
            "importance": None, "category": None, "search": None, "limit": None}
    unknown = set(filters) - set(args)
    if unknown:
        name = sorted(unknown)[0]
        raise ConfigError(f"{name}: not a filter of the bulk actions", field=name,
                          advice="use the filters of session.mail.list: " + ", ".join(args))
    args.update(filters)
    return prepare(folder, fields=["id"], page_size=1000, body_type=None, **args)


def describe(folder: FolderRef, ids: Sequence[str] | None, listing: Any) -> Any:
    """What a bulk job works on, for its derived job id."""
    if ids is not None:
        return sorted(ids)
    where = folder.id if isinstance(folder, MailFolder) else str(folder).casefold()
    return [where, listing.filters.describe()]


class BulkSpec:
    """A bulk action's checked arguments (no I/O): which emails, the job, the progress."""

    def __init__(self, action: str, ids: Iterable[EmailRef] | None, folder: FolderRef,
                 filters: dict[str, Any], job: str | None, progress: Progress | None,
                 extra: Any = None) -> None:
        self.action = action
        self.ids = None if ids is None else list(unique(email_id(e, "ids") for e in ids))
        self.listing = None if self.ids is not None else listing_of(folder, filters)
        self.folder = folder
        self.job = None if job is None else check_job_id(job)
        self.progress = progress
        self.what = [describe(folder, self.ids, self.listing), extra]

    def list_path(self, box: str, folder_id: str) -> str:
        return f"{box}/mailFolders/{folder_id}/messages"

    @property
    def params(self) -> dict[str, Any]:
        assert self.listing is not None
        return dict(self.listing.params)

    def keys(self, items: Iterable[dict[str, Any]]) -> list[str]:
        assert self.listing is not None
        return [e.id for e in self.listing.take(items)]


def run_bulk(session: OutlookSession, plans: ManagePlans, spec: BulkSpec,
             make: Callable[[str], BulkItem]) -> list[Result]:
    """List the emails (unless ids were given), then run the job (sync)."""
    keys = spec.ids
    if keys is None:
        folder_id = session.folders.resolve_id(spec.folder, field="folder")
        # every id first: acting while paging would shift the pages under the listing
        keys = spec.keys(session.graph.paginate(spec.list_path(plans.box, folder_id),
                                                params=spec.params,
                                                immutable_ids=True))
    job = job_for(session, spec.action, [make(k) for k in keys], job=spec.job,
                  what=spec.what, progress=spec.progress)
    return run_job(session, job)


async def arun_bulk(session: OutlookSession, plans: ManagePlans, spec: BulkSpec,
                    make: Callable[[str], BulkItem]) -> list[Result]:
    """The async twin of :func:`run_bulk`."""
    keys = spec.ids
    if keys is None:
        folder_id = await session.aio.folders.resolve_id(spec.folder, field="folder")
        items = [item async for item in session.agraph.paginate(
            spec.list_path(plans.box, folder_id), params=spec.params,
            immutable_ids=True)]
        keys = spec.keys(items)
    job = job_for(session, spec.action, [make(k) for k in keys], job=spec.job,
                  what=spec.what, progress=spec.progress)
    return await arun_job(session, job)


def plans_for(session: OutlookSession) -> ManagePlans:
    return ManagePlans(mailbox_path(session.mailbox), session.folders.plans)


# -- the session's methods ---------------------------------------------------------------------

BulkMaker = Callable[[ManagePlans, str], BulkItem]


def bulk_maker(action: str, target_id: str | None = None,
               body: dict[str, Any] | None = None) -> BulkMaker:
    """How each email of a bulk action becomes its request."""
    def make(plans: ManagePlans, mid: str) -> BulkItem:
        if action in ("move", "delete"):
            assert target_id is not None
            return plans.move_item(mid, target_id)
        if action == "copy":
            assert target_id is not None
            return plans.copy_item(mid, target_id)
        if action == "purge":
            return plans.purge_item(mid)
        assert body is not None
        return plans.patch_item(mid, body)
    return make


class MailManage:
    """Move, copy, delete, mark, flag and categorize on ``session.mail`` (a base of
    :class:`m365bot.outlook.mail.Mail`).

    Example::

        new_id = session.mail.move(mid, "Archive")
        session.mail.move_all("Archive", folder="Inbox", status="read")
    """

    _session: OutlookSession

    @property
    def _plans(self) -> ManagePlans:
        return plans_for(self._session)

    def move(self, email: EmailRef, folder: FolderRef) -> str:
        """Move the email to ``folder`` (a path or well-known name); its immutable id."""
        return run(self._session, self._plans.move(
            email_id(email), folder_segments(folder, "folder"), "folder"))

    def copy(self, email: EmailRef, folder: FolderRef) -> str:
        """Copy the email to ``folder``; the copy's id ("" if the answer was lost)."""
        return run(self._session, self._plans.copy(
            email_id(email), folder_segments(folder, "folder"), "folder"))

    def delete(self, email: EmailRef, *, permanent: bool = False) -> None:
        """Move the email to Deleted Items, or delete it for good (``permanent=True``)."""
        run(self._session, self._plans.delete(email_id(email), permanent))

    def mark_read(self, email: EmailRef) -> None:
        run(self._session, self._plans.patch(email_id(email), {"isRead": True}, "marked read"))

    def mark_unread(self, email: EmailRef) -> None:
        run(self._session, self._plans.patch(email_id(email), {"isRead": False},
                                             "marked unread"))

    def flag(self, email: EmailRef, *, status: str = "flagged",
             due: datetime | None = None) -> None:
        """Set the follow-up flag: ``flagged`` (with an optional aware ``due``),
        ``complete`` or ``notFlagged``."""
        body = flag_body(status, due)
        run(self._session, self._plans.patch(email_id(email), body, f"flag {status}"))

    def unflag(self, email: EmailRef) -> None:
        self.flag(email, status="notFlagged")

    def complete(self, email: EmailRef) -> None:
        self.flag(email, status="complete")

    def set_categories(self, email: EmailRef, categories: str | Iterable[str]) -> None:
        """Replace the email's categories with ``categories``."""
        body = {"categories": categories_of(categories)}
        run(self._session, self._plans.patch(email_id(email), body, "categories set"))

    def save_eml(self, email: EmailRef, path: str | Path, *, overwrite: bool = False) -> Path:
        """Save the whole email as an ``.eml`` file (its MIME, streamed); ``path`` is the file,
        or a folder to save ``<subject>.eml`` in. The path written."""
        mid = email_id(email)
        dest = eml_path(Path(path), overwrite)
        if dest is None:
            subject = (self._session.graph.get(self._plans.url(mid), params={
                "$select": "subject"}).body or {}).get("subject")
            dest = eml_in_folder(Path(path), subject, overwrite)
        size = self._session.graph.download(self._plans.url(mid, "/$value"), dest)
        log.info("saved message %s as .eml (%d bytes)", mid[-12:], size)
        return dest

    def clear_categories(self, email: EmailRef) -> None:
        run(self._session, self._plans.patch(email_id(email), {"categories": []},
                                             "categories cleared"))

    # -- bulk --------------------------------------------------------------------------------
    def _bulk(self, action: str, spec: BulkSpec, target: FolderRef | None = None,
              body: dict[str, Any] | None = None) -> list[Result]:
        plans = self._plans
        target_id = None
        if target is not None:
            target_id = run(self._session, plans.target(
                folder_segments(target, "destination"), "destination")).id
        make = bulk_maker(action, target_id, body)
        return run_bulk(self._session, plans, spec, lambda mid: make(plans, mid))

    def move_all(self, destination: FolderRef, *, ids: Iterable[EmailRef] | None = None,
                 folder: FolderRef = "Inbox", job: str | None = None,
                 progress: Progress | None = None, **filters: Any) -> list[Result]:
        """Move every email of ``folder`` matching ``filters`` (those of
        ``session.mail.list``), or the emails ``ids``, to ``destination``; one Result per
        email (``new_id``: its immutable id). ``job`` names the journal that resumes a
        crashed run (default: derived from the action and the filters)."""
        folder_segments(destination, "destination")
        spec = BulkSpec("move", ids, folder, filters, job, progress, str(destination))
        return self._bulk("move", spec, target=destination)

    def copy_all(self, destination: FolderRef, *, ids: Iterable[EmailRef] | None = None,
                 folder: FolderRef = "Inbox", job: str | None = None,
                 progress: Progress | None = None, **filters: Any) -> list[Result]:
        """As :meth:`move_all`, copying (``new_id``: the copy's id)."""
        folder_segments(destination, "destination")
        spec = BulkSpec("copy", ids, folder, filters, job, progress, str(destination))
        return self._bulk("copy", spec, target=destination)

    def delete_all(self, *, permanent: bool = False, ids: Iterable[EmailRef] | None = None,
                   folder: FolderRef = "Inbox", job: str | None = None,
                   progress: Progress | None = None, **filters: Any) -> list[Result]:
        """Delete every matching email: to Deleted Items, or for good (``permanent``)."""
        action = "purge" if permanent else "delete"
        spec = BulkSpec(action, ids, folder, filters, job, progress)
        return self._bulk(action, spec, target=None if permanent else "deleteditems")

    def mark_all(self, *, read: bool = True, ids: Iterable[EmailRef] | None = None,
                 folder: FolderRef = "Inbox", job: str | None = None,
                 progress: Progress | None = None, **filters: Any) -> list[Result]:
        """Mark every matching email read (or unread, ``read=False``)."""
        spec = BulkSpec("mark", ids, folder, filters, job, progress, read)
        return self._bulk("mark", spec, body={"isRead": bool(read)})


class AsyncMailManage:
    """The async twins on ``session.aio.mail`` (a base of
    :class:`m365bot.outlook.mail.AsyncMail`).

    Example::

        await session.aio.mail.move(mid, "Archive")
    """

    _session: OutlookSession

    @property
    def _plans(self) -> ManagePlans:
        return plans_for(self._session)

    async def move(self, email: EmailRef, folder: FolderRef) -> str:
        return await arun(self._session, self._plans.move(
            email_id(email), folder_segments(folder, "folder"), "folder"))

    async def copy(self, email: EmailRef, folder: FolderRef) -> str:
        return await arun(self._session, self._plans.copy(
            email_id(email), folder_segments(folder, "folder"), "folder"))

    async def delete(self, email: EmailRef, *, permanent: bool = False) -> None:
        await arun(self._session, self._plans.delete(email_id(email), permanent))

    async def mark_read(self, email: EmailRef) -> None:
        await arun(self._session, self._plans.patch(email_id(email), {"isRead": True},
                                                    "marked read"))

    async def mark_unread(self, email: EmailRef) -> None:
        await arun(self._session, self._plans.patch(email_id(email), {"isRead": False},
                                                    "marked unread"))

    async def flag(self, email: EmailRef, *, status: str = "flagged",
                   due: datetime | None = None) -> None:
        body = flag_body(status, due)
        await arun(self._session, self._plans.patch(email_id(email), body, f"flag {status}"))

    async def unflag(self, email: EmailRef) -> None:
        await self.flag(email, status="notFlagged")

    async def complete(self, email: EmailRef) -> None:
        await self.flag(email, status="complete")

    async def set_categories(self, email: EmailRef, categories: str | Iterable[str]) -> None:
        body = {"categories": categories_of(categories)}
        await arun(self._session, self._plans.patch(email_id(email), body, "categories set"))

    async def save_eml(self, email: EmailRef, path: str | Path, *,
                       overwrite: bool = False) -> Path:
        """As :meth:`MailManage.save_eml` (a worker thread writes the file)."""
        import asyncio

        twin = self._session.mail
        return await asyncio.to_thread(lambda: twin.save_eml(email, path, overwrite=overwrite))

    async def clear_categories(self, email: EmailRef) -> None:
        await arun(self._session, self._plans.patch(email_id(email), {"categories": []},
                                                    "categories cleared"))

    async def _bulk(self, action: str, spec: BulkSpec, target: FolderRef | None = None,
                    body: dict[str, Any] | None = None) -> list[Result]:
        plans = self._plans
        target_id = None
        if target is not None:
            target_id = (await arun(self._session, plans.target(
                folder_segments(target, "destination"), "destination"))).id
        make = bulk_maker(action, target_id, body)
        return await arun_bulk(self._session, plans, spec, lambda mid: make(plans, mid))

    async def move_all(self, destination: FolderRef, *, ids: Iterable[EmailRef] | None = None,
                       folder: FolderRef = "Inbox", job: str | None = None,
                       progress: Progress | None = None, **filters: Any) -> list[Result]:
        folder_segments(destination, "destination")
        spec = BulkSpec("move", ids, folder, filters, job, progress, str(destination))
        return await self._bulk("move", spec, target=destination)

    async def copy_all(self, destination: FolderRef, *, ids: Iterable[EmailRef] | None = None,
                       folder: FolderRef = "Inbox", job: str | None = None,
                       progress: Progress | None = None, **filters: Any) -> list[Result]:
        folder_segments(destination, "destination")
        spec = BulkSpec("copy", ids, folder, filters, job, progress, str(destination))
        return await self._bulk("copy", spec, target=destination)

    async def delete_all(self, *, permanent: bool = False,
                         ids: Iterable[EmailRef] | None = None, folder: FolderRef = "Inbox",
                         job: str | None = None, progress: Progress | None = None,
                         **filters: Any) -> list[Result]:
        action = "purge" if permanent else "delete"
        spec = BulkSpec(action, ids, folder, filters, job, progress)
        return await self._bulk(action, spec, target=None if permanent else "deleteditems")

    async def mark_all(self, *, read: bool = True, ids: Iterable[EmailRef] | None = None,
                       folder: FolderRef = "Inbox", job: str | None = None,
                       progress: Progress | None = None, **filters: Any) -> list[Result]:
        spec = BulkSpec("mark", ids, folder, filters, job, progress, read)
        return await self._bulk("mark", spec, body={"isRead": bool(read)})


__all__ = ["FLAG_STATUSES", "IMMUTABLE", "AsyncMailManage", "BulkSpec", "EmailRef",
           "MailManage", "ManagePlans", "ambiguous", "arun_bulk", "bulk_maker",
           "categories_of", "email_id", "flag_body", "folder_segments", "listing_of",
           "plans_for", "run_bulk"]

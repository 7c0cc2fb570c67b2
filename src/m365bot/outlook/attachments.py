"""Attachments: list them, save one or all to a folder (streamed to disk, never whole in
memory), and save every attachment of the emails matching filters, resumably
(``session.attachments``; async twins under ``session.aio.attachments``).

File names come from the sender, so they are made safe first
(:mod:`m365bot.outlook.filenames`): no folders or ``..``, no drive letters or NUL, no device
names such as ``CON``; an existing file is never overwritten unless ``overwrite=True``: the
new one is saved as ``name (2).ext``. An item attachment (an attached email or event) is saved
as ``.eml`` (its MIME). A reference attachment is a link to a file in the cloud, not content:
``save`` raises, ``save_all`` reports it as a failed item with code ``ReferenceAttachment``.

Example::

    for a in session.attachments.list(mid):
        print(a.name, a.kind, a.size)
    path = session.attachments.save(mid, a.id, "out/")
    results = session.attachments.save_all(mid, "out/")
    results = session.attachments.save_matching("out/", folder="Inbox", has_attachments=True)
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import TYPE_CHECKING, Any

from m365bot.errors import ConfigError, GraphError, TransportError
from m365bot.graph.core import mailbox_path
from m365bot.outlook.bulk import Journal, Progress, check_job_id, derive_job_id
from m365bot.outlook.filenames import check_name, safe_name, unique_name
from m365bot.outlook.manage import EmailRef, email_id, listing_of
from m365bot.outlook.models import Attachment, Result

if TYPE_CHECKING:
    from m365bot.outlook.session import OutlookSession

log = logging.getLogger(__name__)

LIST_SELECT = "id,name,contentType,size,isInline,lastModifiedDateTime"
NOT_DOWNLOADABLE = "ReferenceAttachment"
DOWNLOADS = 4  # at once: Outlook's limit of requests in flight per mailbox (more would queue)


def attachment_id(attachment: str | Attachment, field: str = "attachment_id") -> str:
    value = attachment.id if isinstance(attachment, Attachment) else attachment
    if not isinstance(value, str) or not value.strip() or any(c in value for c in "/?#\\ "):
        raise ConfigError(f"{field}: {value!r} is not an attachment id", field=field,
                          advice="use an id from session.attachments.list() or "
                          "'m365bot attachment list'")
    return value.strip()


def target_folder(folder: str | Path, field: str = "folder") -> Path:
    """The folder to save into (created if missing); ConfigError if it is a file."""
    path = Path(folder).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{field}: {str(path)!r} is a file, not a folder", field=field,
                          advice="give a folder to save the attachments in")
    path.mkdir(parents=True, exist_ok=True)
    return path


def file_name(att: Attachment, name: str | None = None) -> str:
    """The safe file name of an attachment (``name``: the caller's, checked strictly)."""
    if name is not None:
        return check_name(name, field="name")
    ext = ".eml" if att.kind == "item" else ""
    return safe_name(att.name, ext=ext)


def place(folder: Path, name: str, overwrite: bool, taken: set[str]) -> Path:
    """Where to write ``name`` in ``folder``: the name itself, or ``name (2).ext`` when a file
    of that name exists (or was saved just before) and ``overwrite`` is off."""
    if not overwrite:
        name = unique_name(name, lambda n: n.casefold() in taken or (folder / n).exists())
    taken.add(name.casefold())
    return folder / name


def refused(att: Attachment) -> str | None:
    if att.kind == "reference":
        return (f"attachment {att.name!r} is a link to a file in the cloud, not content: "
                "it cannot be downloaded")
    return None


class Attachments:
    """The attachments of the session's emails (``session.attachments``).

    Example::

        for r in session.attachments.save_all(mid, "invoices/"):
            print(r.path if r.ok else r.message)
    """

    def __init__(self, session: OutlookSession) -> None:
        self._session = session
        self.box = mailbox_path(session.mailbox)

    def _url(self, mid: str, tail: str = "") -> str:
        return f"{self.box}/messages/{mid}/attachments{tail}"

    def list(self, email: EmailRef) -> list[Attachment]:
        """The email's attachments (without their content)."""
        mid = email_id(email)
        items = self._session.graph.paginate(self._url(mid), params={"$select": LIST_SELECT},
                                             top=None)
        found = [Attachment.from_graph(item) for item in items]
        log.info("listed %d attachment(s) of message %s", len(found), mid[-12:])
        return found

    def _download(self, mid: str, att: Attachment, dest: Path) -> int:
        return self._session.graph.download(self._url(mid, f"/{att.id}/$value"), dest)

    def save(self, email: EmailRef, attachment: str | Attachment, folder: str | Path, *,
             overwrite: bool = False, name: str | None = None) -> Path:
        """Save one attachment in ``folder``; the path written. ``name`` replaces the
        attachment's own name (a plain file name)."""
        mid, aid = email_id(email), attachment_id(attachment)
        if name is not None:
            check_name(name, field="name")
        where = target_folder(folder)
        body = self._session.graph.get(self._url(mid, f"/{aid}"),
                                       params={"$select": LIST_SELECT}).body or {}
        att = Attachment.from_graph(body)
        why = refused(att)
        if why:
            raise ConfigError(why, field="attachment_id",
                              advice="open the link in Outlook; only file and item "
                              "attachments can be saved")
        dest = place(where, file_name(att, name), overwrite, set())
        size = self._download(mid, att, dest)
        log.info("saved an attachment of message %s (%d bytes)", mid[-12:], size)
        return dest

    def save_all(self, email: EmailRef, folder: str | Path, *, overwrite: bool = False,
                 include_inline: bool = True) -> builtins.list[Result]:
        """Save every attachment of the email in ``folder``; one Result per attachment
        (``path`` the file written, or why not)."""
        mid = email_id(email)
        where = target_folder(folder)
        return self._save_messages([mid], where, overwrite, include_inline, None)

    def _save_messages(self, mids: builtins.list[str], where: Path, overwrite: bool,
                       include_inline: bool, journal: Journal | None,
                       progress: Progress | None = None) -> builtins.list[Result]:
        """Save the attachments of ``mids`` into ``where``; one Result per attachment, in the
        emails' order. The lists, then the downloads, go out :data:`DOWNLOADS` at a time
        (the mailbox's limit of requests in flight); the file names are chosen first, in
        the emails' order, so a rerun gives each attachment the same name."""
        with ThreadPoolExecutor(DOWNLOADS, thread_name_prefix="m365bot-save") as pool:
            listed = builtins.list(pool.map(self.list, mids))
            results: builtins.list[Result | None] = []
            todo: builtins.list[tuple[int, int, str, Attachment, Path]] = []
            left = [0] * len(mids)  # downloads still to finish, per email
            taken: set[str] = set()
            for m, (mid, atts) in enumerate(zip(mids, listed, strict=True)):
                for att in atts:
                    if att.is_inline and not include_inline:
                        continue
                    key = f"{mid}/{att.id}"
                    done = journal.skipped(key) if journal else None
                    why = refused(att)
                    if done is None and why:
                        done = Result(item_id=key, ok=False, code=NOT_DOWNLOADABLE,
                                      message=why)
                    if done is None:
                        reserved = journal.notes.get(key) if journal else None
                        dest = where / reserved if reserved else place(
                            where, file_name(att), overwrite, taken)
                        todo.append((len(results), m, mid, att, dest))
                        left[m] += 1
                    results.append(done)
            finished = sum(1 for n in left if n == 0)
            if progress:
                progress(finished, len(mids))
            if journal and todo:
                for _, _, mid, att, dest in todo:
                    journal.note(f"{mid}/{att.id}", dest.name)
                journal.begin(f"{mid}/{att.id}" for _, _, mid, att, _ in todo)
            running = {pool.submit(self._fetch, mid, att, dest): (i, m)
                       for i, m, mid, att, dest in todo}
            for future in as_completed(running):
                i, m = running[future]
                results[i] = result = future.result()
                if journal:
                    journal.finish([result])
                left[m] -= 1
                if progress and left[m] == 0:
                    finished += 1
                    progress(finished, len(mids))
        return [r for r in results if r is not None]

    def _fetch(self, mid: str, att: Attachment, dest: Path) -> Result:
        """Download one attachment to ``dest``; its Result (a Graph or network failure is a
        failed Result, not an exception)."""
        key = f"{mid}/{att.id}"
        try:
            self._download(mid, att, dest)
            return Result(item_id=key, ok=True, status=200, path=str(dest))
        except GraphError as exc:
            return Result(item_id=key, ok=False, status=exc.status, code=exc.code,
                          message=exc.message)
        except TransportError as exc:
            return Result(item_id=key, ok=False, code="NoAnswer", message=exc.message)

    def save_matching(self, dest: str | Path, *, folder: Any = "Inbox",
                      ids: Iterable[EmailRef] | None = None, overwrite: bool = False,
                      include_inline: bool = True, job: str | None = None,
                      progress: Progress | None = None, **filters: Any) -> builtins.list[Result]:
        """Save every attachment of the emails in ``folder`` matching ``filters`` (those of
        ``session.mail.list``), or of the emails ``ids``, into ``dest``; one Result per
        attachment. A rerun with the same ``job`` skips what was saved."""
        keys = None if ids is None else [email_id(e, "ids") for e in ids]
        listing = None if keys is not None else listing_of(folder, dict(filters))
        where = target_folder(dest, "dest")
        name = check_job_id(job) if job is not None else derive_job_id(
            "save", self._session.mailbox,
            [str(where.resolve()), sorted(keys) if keys is not None else
             [str(folder).casefold(), listing.filters.describe() if listing else None]])
        journal = Journal.open(self._session.graph.settings, name, "save")
        if keys is None:
            assert listing is not None
            folder_id = self._session.folders.resolve_id(folder, field="folder")
            keys = [e.id for e in listing.take(self._session.graph.paginate(
                f"{self.box}/mailFolders/{folder_id}/messages", params=listing.params,
                immutable_ids=True))]
        results = self._save_messages(keys, where, overwrite, include_inline, journal,
                                      progress)
        journal.close(results)
        log.info("saved attachments of %d message(s): %d file(s), %d failed", len(keys),
                 sum(1 for r in results if r.ok), sum(1 for r in results if not r.ok))
        return results


class AsyncAttachments:
    """The async twin of :class:`Attachments` (``session.aio.attachments``): the same
    methods, run in a worker thread on the session's engine (downloads are file I/O).

    Example::

        results = await session.aio.attachments.save_all(mid, "out/")
    """

    def __init__(self, session: OutlookSession, twin: Attachments) -> None:
        self._twin = twin

    async def list(self, email: EmailRef) -> list[Attachment]:
        import asyncio

        return await asyncio.to_thread(self._twin.list, email)

    async def save(self, email: EmailRef, attachment: str | Attachment, folder: str | Path, *,
                   overwrite: bool = False, name: str | None = None) -> Path:
        import asyncio

        return await asyncio.to_thread(self._twin.save, email, attachment, folder,
                                       overwrite=overwrite, name=name)

    async def save_all(self, email: EmailRef, folder: str | Path, *, overwrite: bool = False,
                       include_inline: bool = True) -> builtins.list[Result]:
        import asyncio

        return await asyncio.to_thread(self._twin.save_all, email, folder,
                                       overwrite=overwrite, include_inline=include_inline)

    async def save_matching(self, dest: str | Path, **options: Any) -> builtins.list[Result]:
        import asyncio

        return await asyncio.to_thread(lambda: self._twin.save_matching(dest, **options))


__all__ = ["NOT_DOWNLOADABLE", "AsyncAttachments", "Attachments", "attachment_id", "file_name",
           "place", "target_folder"]

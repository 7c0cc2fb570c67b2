"""Folder paths without I/O: parsing ``"Inbox/Sales"``, Graph's well-known folder names, new
folder names, and the errors that name the field (see :mod:`m365bot.outlook.folders`).

Example::

    parse_path("Inbox/Sales")            # ('Inbox', 'Sales')
    well_known_name("Sent Items")        # 'sentitems'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from m365bot.errors import ConfigError, GraphError, NotFoundError
from m365bot.outlook.models import MailFolder

# Graph's wellKnownFolderName values (learn.microsoft.com/graph/api/resources/mailfolder)
WELL_KNOWN_FOLDERS = frozenset({
    "archive", "clutter", "conflicts", "conversationhistory", "deleteditems", "drafts", "inbox",
    "junkemail", "localfailures", "msgfolderroot", "outbox", "recoverableitemsdeletions",
    "scheduled", "searchfolders", "sentitems", "serverfailures", "syncissues"})

def well_known_name(segment: str) -> str | None:
    """Graph's well-known name for a first path segment (``"Sent Items"`` -> ``sentitems``),
    or None."""
    key = "".join(segment.split()).replace("_", "").replace("-", "").lower()
    return key if key in WELL_KNOWN_FOLDERS else None


def well_known_ref(folder: object) -> str | None:
    """Graph's well-known name when ``folder`` is a path of one well-known folder (``"Inbox"``,
    ``"Sent Items"``), else None. Graph takes that name wherever a folder id goes, so a listing
    of such a folder needs no lookup first. Example: ``well_known_ref("inbox")`` -> ``inbox``."""
    if isinstance(folder, str):
        segments = folder.strip().split("/")
    elif isinstance(folder, (list, tuple)):
        segments = list(folder)
    else:
        return None
    if len(segments) != 1 or not isinstance(segments[0], str):
        return None
    return well_known_name(segments[0])


def parse_path(path: str | Sequence[str], *, field: str = "folder") -> tuple[str, ...]:
    """The segments of a folder path; ConfigError naming ``field`` for a path that cannot be
    a folder. Example: ``parse_path("Inbox/Sales")`` -> ``("Inbox", "Sales")``."""
    raw = path.split("/") if isinstance(path, str) else list(path)
    segments = tuple(s.strip() if isinstance(s, str) else s for s in raw)
    if not segments or segments == ("",):
        raise ConfigError(f"{field}: the folder path is empty", field=field,
                          advice="give a folder path such as 'Inbox/Sales' or a well-known "
                          "name such as 'inbox'")
    for i, seg in enumerate(segments):
        where = f"{field}: segment {i + 1} of {_show(path)}"
        if not isinstance(seg, str) or not seg:
            raise ConfigError(f"{where} is empty", field=field,
                              advice="remove the extra '/' (write 'Inbox/Sales', not "
                              "'Inbox//Sales' or '/Inbox/')")
        if seg in (".", ".."):
            raise ConfigError(f"{where} is {seg!r}; folder paths have no relative parts",
                              field=field, advice="name every folder from the top, e.g. "
                              "'Inbox/Sales'")
        if any(ord(c) < 32 for c in seg):
            raise ConfigError(f"{where} contains a control character", field=field,
                              advice="use printable characters only")
    return segments


def _show(path: str | Sequence[str]) -> str:
    return repr(path if isinstance(path, str) else "/".join(map(str, path)))


def check_name(name: str, *, field: str = "new_name") -> str:
    """A new folder name: 1-255 printable characters, no ``/``; ConfigError otherwise."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{field}: the folder name is empty", field=field,
                          advice="give a name such as 'Sales'")
    name = name.strip()
    if "/" in name or name in (".", "..") or len(name) > 255 or any(ord(c) < 32 for c in name):
        raise ConfigError(f"{field}: {name!r} cannot be a folder name", field=field,
                          advice="use 1-255 printable characters without '/'")
    return name


class PathNotFound(NotFoundError):
    """A folder path names no folder: Graph listed the parent and no child has that name.
    (Graph's own 404 for an id means the id is stale, which the folder code tells apart.)
    ``field`` names the argument that held the path."""

    def __init__(self, message: str, *, field: str, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.field = field


def missing(field: str, segment: str, parent: str | None) -> PathNotFound:
    """The error for a path segment that names no folder (``parent`` None: the top)."""
    where = f"in {parent!r}" if parent else "at the top of the mailbox"
    return PathNotFound(f"{field}: there is no folder {segment!r} {where}", field=field,
                         code="ErrorItemNotFound", status=404,
                         advice="check the path with 'm365bot folder list' (or "
                         "session.folders.tree()), or create it with folders.create")


def is_missing(exc: GraphError) -> bool:
    """True for Graph's (or our) "this folder or item does not exist"."""
    return isinstance(exc, NotFoundError) and exc.code == "ErrorItemNotFound"


def quote(value: str) -> str:
    """A string for an OData literal: ``O'Brien`` -> ``O''Brien``."""
    return value.replace("'", "''")


def join(parent: MailFolder | None, name: Any) -> str:
    """The path of ``name`` below ``parent`` (None: the top)."""
    name = str(name or "")
    return f"{parent.path}/{name}" if parent is not None and parent.path else name


def refuse_well_known(segments: Sequence[str], verb: str, field: str) -> None:
    """ConfigError if the path is a well-known folder, which cannot be renamed, moved or
    deleted."""
    if len(segments) == 1 and well_known_name(segments[0]):
        raise ConfigError(f"{field}: {segments[0]!r} is a well-known folder and cannot be "
                          f"{verb}", field=field,
                          advice="name a folder you created, e.g. 'Inbox/Sales'")


__all__ = ["WELL_KNOWN_FOLDERS", "PathNotFound", "check_name", "is_missing", "join", "missing",
           "parse_path", "quote", "refuse_well_known", "well_known_name"]

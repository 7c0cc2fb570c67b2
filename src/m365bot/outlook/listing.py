"""Checking a mail listing or a message read before anything is sent (no I/O): message ids,
folder paths and body types, and the Graph query of a listing built from its filters by
:mod:`m365bot.outlook.filters`. Reading (:mod:`.mail`), managing (:mod:`.manage`) and
watching (:mod:`.watch`) mail all check their arguments here.

Example::

    listing = prepare("Inbox/Sales", status="unread", senders=None, subject_contains=None,
                      received_since="2026-11-01", received_until=None, has_attachments=None,
                      importance=None, category=None, search=None, fields=None, limit=20,
                      page_size=1000, body_type=None)
    listing.params["$filter"], check_id("AAMkAGI2...")
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from m365bot.errors import ConfigError
from m365bot.outlook.filters import (
    GET_FIELDS,
    MailFilter,
    graph_fields,
    list_query,
    mail_filter,
)
from m365bot.outlook.folderpaths import parse_path
from m365bot.outlook.folders import FolderRef
from m365bot.outlook.models import Email, MailFolder

# the listing log lines keep the logger of session.mail, where they were always written
log = logging.getLogger("m365bot.outlook.mail")

BODY_TYPES = ("text", "html")
SEARCH_CAP = 1000  # Graph returns at most 1,000 results for a $search
_ID = re.compile(r"^[A-Za-z0-9_\-=+]{8,1024}$")


def check_id(message_id: str, field: str = "id") -> str:
    """``message_id`` if it can be an Outlook message id, else ConfigError (nothing sent)."""
    if not isinstance(message_id, str) or not _ID.match(message_id.strip()):
        shown = message_id if isinstance(message_id, str) and len(message_id) < 60 else "..."
        raise ConfigError(f"{field}: {shown!r} is not an Outlook message id", field=field,
                          advice="use the id of a message as 'm365bot mail list --json' or "
                          "session.mail.list() gives it")
    return message_id.strip()


def check_body_type(body_type: str | None) -> str | None:
    if body_type is not None and body_type not in BODY_TYPES:
        raise ConfigError(f"body_type: {body_type!r} is not a body type", field="body_type",
                          advice="use 'text' or 'html'")
    return body_type


def check_folder(folder: FolderRef, field: str = "folder") -> FolderRef:
    """The folder, its path checked before any request (a MailFolder is taken as is)."""
    if not isinstance(folder, MailFolder):
        parse_path(folder, field=field)
    return folder


@dataclass(frozen=True, slots=True)
class Listing:
    """A checked listing: where, what to ask Graph, how many to give back."""

    folder: FolderRef
    filters: MailFilter
    params: dict[str, Any]
    searched: bool
    limit: int | None
    body_type: str | None

    def path(self, box: str, folder_id: str) -> str:
        return f"{box}/mailFolders/{folder_id}/messages"

    def started(self, folder_id: str) -> None:
        names = ", ".join(sorted(self.filters.describe())) or "none"
        log.info("listing mail in folder %s (filters: %s)", folder_id[-12:], names)

    def take(self, items: Iterable[dict[str, Any]]) -> Iterator[Email]:
        """Emails from Graph items, up to ``limit``."""
        n = 0
        for item in items:
            if self.limit is not None and n >= self.limit:
                return
            n += 1
            yield Email.from_graph(item)
        self.finished(n)

    def finished(self, n: int) -> None:
        if self.searched and n >= SEARCH_CAP:
            log.warning("Graph returns at most %d search results; narrow the search to see "
                        "the others", SEARCH_CAP)


def prepare(folder: FolderRef, *, status: str, senders: str | Iterable[str] | None,
            subject_contains: str | None, received_since: str | date | datetime | None,
            received_until: str | date | datetime | None, has_attachments: bool | None,
            importance: str | None, category: str | None, search: str | None,
            fields: Sequence[str] | None, limit: int | None, page_size: int,
            body_type: str | None) -> Listing:
    """Check every argument of a listing and build its query (no I/O)."""
    check_folder(folder)
    f = mail_filter(status=status, senders=senders, subject_contains=subject_contains,
                    received_since=received_since, received_until=received_until,
                    has_attachments=has_attachments, importance=importance, category=category,
                    search=search)
    q = list_query(f, fields=fields, page_size=page_size, limit=limit)
    return Listing(folder, f, q.params, q.searched, limit, check_body_type(body_type))


def get_request(box: str, message_id: str, fields: Sequence[str] | None,
                body_type: str | None) -> tuple[str, dict[str, Any], str | None]:
    """(path, query, body type) of ``get`` (no I/O)."""
    mid = check_id(message_id)
    select = ",".join(graph_fields(fields, GET_FIELDS))
    return f"{box}/messages/{mid}", {"$select": select}, check_body_type(body_type)


__all__ = ["BODY_TYPES", "SEARCH_CAP", "Listing", "check_body_type", "check_folder", "check_id",
           "get_request", "prepare"]

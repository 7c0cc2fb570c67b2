"""Mail filters turned into the Graph query that runs them on the server (no I/O here).

:func:`mail_filter` checks the caller's filters once (ConfigError naming the field, before
anything is sent); :func:`list_query` builds the ``$filter`` / ``$search`` / ``$orderby`` /
``$select`` / ``$top`` of a listing, written so that Outlook accepts it:

* without ``search``: ``$orderby=receivedDateTime desc`` and a ``$filter`` that *starts*
  with ``receivedDateTime`` (Outlook answers ``InefficientFilter`` when the sort property does
  not lead the filter), so ``receivedDateTime ge 1900-01-01T00:00:00Z`` leads it when no
  date was given;
* with ``search`` (KQL): Graph refuses ``$search`` with ``$filter`` or ``$orderby``, so the
  other filters are folded into the KQL query (``from:``, ``subject:``, ``received>=``,
  ``hasAttachments:``, ``importance:``); the two KQL cannot express (read status, category,
  or a time of day) are refused with advice.

:func:`matches` runs the same filters on a message already fetched (the new-mail trigger:
delta queries filter only on the received time).

Example::

    f = mail_filter(status="unread", senders=["bob@contoso.com"], subject_contains="invoice")
    q = list_query(f, fields=["subject", "from"], page_size=1000)
    q.params   # {'$filter': "receivedDateTime ge 1900-... and isRead eq false and ...",
               #  '$orderby': 'receivedDateTime desc', '$select': 'id,subject,from,...',
               #  '$top': 1000}
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from m365bot.errors import ConfigError
from m365bot.outlook.models import format_datetime, parse_datetime

STATUSES = ("all", "read", "unread")
IMPORTANCES = ("low", "normal", "high")
PAGE_LIMIT = 1000

# the Email field names (Python) and Graph's property for each
FIELDS: dict[str, str] = {
    "id": "id", "subject": "subject", "from": "from", "from_": "from", "sender": "sender",
    "to": "toRecipients", "cc": "ccRecipients", "bcc": "bccRecipients",
    "reply_to": "replyTo", "received": "receivedDateTime", "sent": "sentDateTime",
    "body": "body", "body_preview": "bodyPreview", "is_read": "isRead", "is_draft": "isDraft",
    "has_attachments": "hasAttachments", "importance": "importance",
    "categories": "categories", "flag": "flag", "folder": "parentFolderId",
    "folder_id": "parentFolderId", "conversation_id": "conversationId",
    "internet_message_id": "internetMessageId", "web_link": "webLink",
}
_GRAPH_NAMES = {g.lower(): g for g in FIELDS.values()}
LIST_FIELDS = ("subject", "from", "toRecipients", "receivedDateTime", "isRead",
               "hasAttachments", "importance", "categories", "flag", "parentFolderId",
               "conversationId", "bodyPreview")
"""What a listing asks for when the caller names no fields (no body: it is large)."""
GET_FIELDS = (*LIST_FIELDS, "ccRecipients", "bccRecipients", "replyTo", "sentDateTime",
              "body", "isDraft", "sender", "internetMessageId", "webLink")
"""What ``get`` asks for when the caller names no fields: everything an Email carries."""

_ADDRESS = re.compile(r"^[^@\s<>(),;:\"']+@[^@\s<>(),;:\"']+\.[^@\s<>(),;:\"']+$")
_EPOCH = "1900-01-01T00:00:00Z"  # leads $filter when no date was given (InefficientFilter)


@dataclass(frozen=True, slots=True)
class MailFilter:
    """Checked filters (build them with :func:`mail_filter`)."""

    status: str = "all"
    senders: tuple[str, ...] = ()
    subject_contains: str | None = None
    received_since: datetime | None = None
    received_until: datetime | None = None
    has_attachments: bool | None = None
    importance: str | None = None
    category: str | None = None
    search: str | None = None

    def describe(self) -> dict[str, Any]:
        """The filters that are set, as plain data (a trigger's cursor key, the log)."""
        out: dict[str, Any] = {}
        for spec in dataclasses.fields(self):
            name, value = spec.name, getattr(self, spec.name)
            if value in (None, (), "all"):
                continue
            out[name] = format_datetime(value) if isinstance(value, datetime) else (
                list(value) if isinstance(value, tuple) else value)
        return out


def _bad(field: str, what: str, advice: str) -> ConfigError:
    return ConfigError(f"{field}: {what}", field=field, advice=advice)


def to_datetime(value: str | date | datetime | None, field: str) -> datetime | None:
    """An aware UTC datetime from a datetime, a date (its midnight, UTC) or ISO text
    (``2026-11-01`` or ``2026-11-01T09:30:00Z``)."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        parsed = parse_datetime(text) if "T" in text or " " in text else None
        if parsed is None:
            try:
                return datetime.combine(date.fromisoformat(text), time(), UTC)
            except ValueError:
                raise _bad(field, f"{value!r} is not a date", "give a date such as "
                           "2026-11-01 or a time such as 2026-11-01T09:30:00Z") from None
        return parsed.astimezone(UTC)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise _bad(field, f"the time {value.isoformat()} has no time zone",
                       "pass an aware datetime, e.g. datetime(..., tzinfo=UTC), or a date")
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), UTC)
    raise _bad(field, f"{value!r} is not a date", "give a date or an aware datetime")


def _senders(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    items = re.split(r"[,;]", value) if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        address = str(item).strip()
        if not address:
            continue
        if not _ADDRESS.match(address):
            raise _bad("senders", f"{address!r} is not an email address",
                       "give addresses such as bob@contoso.com, separated by commas")
        out.append(address)
    return tuple(out)


def _text(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _bad(field, "is empty", f"give some text, or leave {field} out")
    return value.strip()


def mail_filter(*, status: str = "all", senders: str | Iterable[str] | None = None,
                subject_contains: str | None = None,
                received_since: str | date | datetime | None = None,
                received_until: str | date | datetime | None = None,
                has_attachments: bool | None = None, importance: str | None = None,
                category: str | None = None, search: str | None = None) -> MailFilter:
    """The filters, checked: ConfigError naming the field and the fix, before any request.

    Example::

        mail_filter(status="unread", received_since=date(2026, 11, 1), importance="high")
    """
    if status not in STATUSES:
        raise _bad("status", f"{status!r} is not a read status",
                   f"use one of {', '.join(STATUSES)}")
    if importance is not None and str(importance).lower() not in IMPORTANCES:
        raise _bad("importance", f"{importance!r} is not an importance",
                   f"use one of {', '.join(IMPORTANCES)}")
    if has_attachments is not None and not isinstance(has_attachments, bool):
        raise _bad("has_attachments", f"{has_attachments!r} is not True or False",
                   "pass True, False or None")
    since = to_datetime(received_since, "received_since")
    until = to_datetime(received_until, "received_until")
    if since is not None and until is not None and until <= since:
        raise _bad("received_until", f"{format_datetime(until)} is not after "
                   f"received_since {format_datetime(since)}",
                   "give an end after the start")
    return MailFilter(status=status, senders=_senders(senders),
                      subject_contains=_text(subject_contains, "subject_contains"),
                      received_since=since, received_until=until,
                      has_attachments=has_attachments,
                      importance=None if importance is None else str(importance).lower(),
                      category=_text(category, "category"), search=_text(search, "search"))


def graph_fields(fields: Sequence[str] | None, default: Sequence[str]) -> tuple[str, ...]:
    """Graph's property names for the caller's fields (Email names such as ``received`` or
    Graph names such as ``receivedDateTime``), ``id`` first; ConfigError for an unknown one."""
    if fields is None:
        return ("id", *default)
    if isinstance(fields, str):
        fields = [f for f in re.split(r"[,\s]+", fields) if f]
    out = ["id"]
    for name in fields:
        graph = FIELDS.get(name) or _GRAPH_NAMES.get(str(name).lower())
        if graph is None:
            raise _bad("fields", f"{name!r} is not a message field",
                       f"use some of {', '.join(sorted(set(FIELDS) - {'from_'}))}")
        if graph not in out:
            out.append(graph)
    return tuple(out)


def _quote(text: str) -> str:
    return text.replace("'", "''")


def odata_filter(f: MailFilter) -> str | None:
    """The ``$filter`` for ``f`` (no search), ``receivedDateTime`` first; None if none."""
    parts: list[str] = []
    if f.status != "all":
        parts.append(f"isRead eq {'true' if f.status == 'read' else 'false'}")
    if f.senders:
        either = " or ".join(f"from/emailAddress/address eq '{_quote(a)}'" for a in f.senders)
        parts.append(f"({either})" if len(f.senders) > 1 else either)
    if f.subject_contains:
        parts.append(f"contains(subject,'{_quote(f.subject_contains)}')")
    if f.has_attachments is not None:
        parts.append(f"hasAttachments eq {'true' if f.has_attachments else 'false'}")
    if f.importance:
        parts.append(f"importance eq '{f.importance}'")
    if f.category:
        parts.append(f"categories/any(c:c eq '{_quote(f.category)}')")
    dates = []
    if f.received_since is not None:
        dates.append(f"receivedDateTime ge {format_datetime(f.received_since)}")
    if f.received_until is not None:
        dates.append(f"receivedDateTime lt {format_datetime(f.received_until)}")
    if not parts and not dates:
        return None
    # Outlook's rule: the $orderby property must lead the $filter
    return " and ".join((dates or [f"receivedDateTime ge {_EPOCH}"]) + parts)


def _kql_day(value: datetime, field: str) -> str:
    if value.time() != time():
        raise _bad(field, f"a search cannot start or end at {format_datetime(value)}",
                   f"with search, give {field} as a date (KQL searches whole days), "
                   "or drop search and use the other filters")
    return value.date().isoformat()


def _phrase(text: str, field: str) -> str:
    if '"' in text:
        raise _bad(field, "contains a double quote, which a search cannot hold",
                   f"leave the quote out of {field}")
    return f'"{text}"' if re.search(r"[\s():]", text) else text


def kql(f: MailFilter) -> str:
    """The ``$search`` for ``f``: the caller's KQL with the other filters folded in. Read
    status and category have no KQL property: ConfigError naming them."""
    refused = [name for name, on in (("status", f.status != "all"),
                                     ("category", f.category is not None)) if on]
    if refused:
        raise _bad(refused[0], f"Graph cannot combine search with {' or '.join(refused)}",
                   f"drop {' and '.join(refused)}, or drop search and filter with the "
                   "other options (senders, subject_contains, received_since...)")
    assert f.search is not None
    terms = [f"({f.search})"]
    if f.senders:
        either = " OR ".join(f"from:{_phrase(a, 'senders')}" for a in f.senders)
        terms.append(f"({either})" if len(f.senders) > 1 else either)
    if f.subject_contains:
        terms.append(f"subject:{_phrase(f.subject_contains, 'subject_contains')}")
    if f.received_since is not None:
        terms.append(f"received>={_kql_day(f.received_since, 'received_since')}")
    if f.received_until is not None:
        terms.append(f"received<{_kql_day(f.received_until, 'received_until')}")
    if f.has_attachments is not None:
        terms.append(f"hasAttachments:{'true' if f.has_attachments else 'false'}")
    if f.importance:
        terms.append(f"importance:{f.importance}")
    return " AND ".join(terms) if len(terms) > 1 else f.search


@dataclass(frozen=True, slots=True)
class ListQuery:
    """The query options of a listing's first page (the nextLinks keep them)."""

    params: dict[str, Any]
    searched: bool


def list_query(f: MailFilter, *, fields: Sequence[str] | None = None,
               page_size: int = PAGE_LIMIT, limit: int | None = None) -> ListQuery:
    """The first page's query for ``f``: newest first, the caller's fields, ``$top`` up to
    1,000 (less when ``limit`` is smaller)."""
    if not isinstance(page_size, int) or not 1 <= page_size <= PAGE_LIMIT:
        raise _bad("page_size", f"{page_size!r} is not 1 to {PAGE_LIMIT}",
                   f"ask for at most {PAGE_LIMIT} messages per page")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise _bad("limit", f"{limit!r} is not a positive number",
                   "give 1 or more, or None for every message")
    params: dict[str, Any] = {"$select": ",".join(graph_fields(fields, LIST_FIELDS)),
                              "$top": min(page_size, limit or page_size)}
    if f.search is not None:
        params["$search"] = f'"{kql(f)}"'  # Graph: no $filter, no $orderby with $search
        return ListQuery(params, searched=True)
    where = odata_filter(f)
    if where:
        params["$filter"] = where
    params["$orderby"] = "receivedDateTime desc"
    return ListQuery(params, searched=False)


MATCH_FIELDS = ("receivedDateTime", "isRead", "from", "subject", "hasAttachments",
                "importance", "categories")
"""The Graph properties :func:`matches` reads."""


def matches(f: MailFilter, message: Mapping[str, Any]) -> bool:
    """Whether a message (Graph JSON) passes ``f`` (not ``search``: KQL runs on the server)."""
    if f.status != "all" and bool(message.get("isRead")) != (f.status == "read"):
        return False
    if f.senders:
        sender = str(((message.get("from") or {}).get("emailAddress") or {}).get("address")
                     or "").casefold()
        if sender not in {a.casefold() for a in f.senders}:
            return False
    if f.subject_contains and f.subject_contains.casefold() not in str(
            message.get("subject") or "").casefold():
        return False
    received = parse_datetime(message.get("receivedDateTime"))
    if f.received_since is not None and (received is None or received < f.received_since):
        return False
    if f.received_until is not None and (received is None or received >= f.received_until):
        return False
    if f.has_attachments is not None and bool(message.get("hasAttachments")) != \
            f.has_attachments:
        return False
    if f.importance and str(message.get("importance") or "").lower() != f.importance:
        return False
    return not f.category or f.category.casefold() in {
        str(c).casefold() for c in message.get("categories") or []}


__all__ = ["FIELDS", "GET_FIELDS", "IMPORTANCES", "LIST_FIELDS", "MATCH_FIELDS", "STATUSES",
           "ListQuery", "MailFilter", "graph_fields", "kql", "list_query", "mail_filter", "matches",
           "odata_filter", "to_datetime"]

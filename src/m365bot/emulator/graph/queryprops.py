"""The message properties that query options name (``$select``, ``$filter``, ``$orderby``):
their canonical spelling (400 for an unknown one), a getter on a stored message, and ISO 8601
dates as epoch seconds. :mod:`.query` and the ``$filter`` and ``$search`` compilers
(:mod:`.odata_filter`, :mod:`.kql`) share them.

Example::

    path = canonical_path("From/EmailAddress/Address")   # "from/emailAddress/address"
    getter(path)(message), to_epoch("2026-11-01T00:00:00Z")
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from m365bot.emulator.graph.errors import GraphHTTPError, bad_request
from m365bot.emulator.state import Message

PROPERTIES = frozenset({
    "id", "subject", "body", "bodyPreview", "uniqueBody", "from", "sender", "toRecipients",
    "ccRecipients", "bccRecipients", "replyTo", "receivedDateTime", "sentDateTime",
    "createdDateTime", "lastModifiedDateTime", "isRead", "isDraft", "isDeliveryReceiptRequested",
    "isReadReceiptRequested", "hasAttachments", "importance", "inferenceClassification", "flag",
    "parentFolderId", "conversationId", "conversationIndex", "internetMessageId",
    "internetMessageHeaders", "webLink", "categories", "changeKey",
})
_BY_LOWER_NAME = {p.lower(): p for p in PROPERTIES}
DATES = frozenset({"receivedDateTime", "sentDateTime", "createdDateTime",
                    "lastModifiedDateTime"})

def unknown_property(name: str) -> GraphHTTPError:
    return bad_request(f"Could not find a property named '{name}' on type "
                       "'microsoft.graph.message'.")


def property_name(name: str) -> str:
    """A top-level property in its own spelling (``ISREAD`` → ``isRead``; 400 if unknown)."""
    canonical = _BY_LOWER_NAME.get(name.lower())
    if canonical is None:
        raise unknown_property(name)
    return canonical


def canonical_path(path: str) -> str:
    """``From/EmailAddress/Address`` → ``from/emailAddress/address`` (400 if unknown)."""
    parts = path.split("/")
    head = property_name(parts[0])
    rest = {"emailaddress": "emailAddress", "address": "address", "name": "name",
            "flagstatus": "flagStatus", "contenttype": "contentType", "content": "content"}
    tail = []
    for p in parts[1:]:
        if p.lower() not in rest:
            raise unknown_property(p)
        tail.append(rest[p.lower()])
    return "/".join([head, *tail])


def getter(path: str) -> Callable[[Message], Any]:
    parts = path.split("/")
    if parts == ["parentFolderId"]:
        return lambda m: m.folder_id
    if parts == ["id"]:
        return lambda m: m.id

    def get(m: Message) -> Any:
        value: Any = m.props
        for p in parts:
            if not isinstance(value, dict):
                return None
            value = value.get(p)
        return value

    return get


@lru_cache(maxsize=65536)
def to_epoch(text: str) -> float | None:
    """Seconds since the epoch of an ISO 8601 date/time (UTC when no offset), or None."""
    value = text.strip()
    if not value:
        return None
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()

"""OData query options on message collections: ``$select``, ``$filter``, ``$search``,
``$orderby``, ``$top``, ``$skip``, ``$count``, with Outlook's restrictions.

* ``$top`` 1..1000 (default 10); ``$skip`` ≥ 0; the nextLink carries ``$skip``.
* ``$filter`` + ``$orderby``: the sort properties must lead the filter, in order, else
  ``InefficientFilter``.
* ``$search`` cannot be combined with ``$filter`` or ``$orderby``.

Example::

    q = parse(request.query_params)                 # 400 BadRequest on bad syntax
    page, count, more = q.apply(messages)
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from m365bot.emulator.graph.errors import GraphHTTPError, bad_request
from m365bot.emulator.graph.kql import compile_search
from m365bot.emulator.graph.odata_filter import compile_filter
from m365bot.emulator.graph.queryprops import DATES, canonical_path, getter, property_name, to_epoch
from m365bot.emulator.state import Message

Pred = Callable[[Message], bool]

KNOWN_OPTIONS = frozenset({"$select", "$filter", "$search", "$orderby", "$top", "$skip",
                           "$count", "$expand", "$skiptoken", "$deltatoken", "$format"})
_SORTABLE = frozenset({"receivedDateTime", "sentDateTime", "createdDateTime",
                       "lastModifiedDateTime", "subject", "importance", "isRead",
                       "hasAttachments", "from/emailAddress/address", "from/emailAddress/name",
                       "flag/flagStatus", "conversationId", "isDraft"})
INEFFICIENT = GraphHTTPError(400, "InefficientFilter",
                             "The restriction or sort order is too complex for this operation.")


@dataclass
class Query:
    """Parsed options; :meth:`apply` filters, sorts and pages a list of messages."""

    select: tuple[str, ...] | None = None
    where: Pred | None = None
    filter_props: list[str] = field(default_factory=list)
    search: Pred | None = None
    orderby: list[tuple[str, bool]] = field(default_factory=list)  # (path, descending)
    top: int = 10
    skip: int = 0
    count: bool = False

    @property
    def order(self) -> list[tuple[str, bool]]:
        """The sort order: ``$orderby``'s, else Outlook's default, newest received first."""
        return self.orderby or [("receivedDateTime", True)]

    def apply(self, messages: list[Message], *, ordered: bool = False
              ) -> tuple[list[Message], int, bool]:
        """(page, total matching, whether more pages follow). ``ordered``: ``messages`` are
        already sorted in :attr:`order` (:func:`sort`, kept between pages by the mailbox).
        Filtering a sorted list gives the same order as sorting the filtered one, as the sort
        is stable."""
        items = messages
        if self.where is not None:
            items = [m for m in items if self.where(m)]
        if self.search is not None:
            items = [m for m in items if self.search(m)]
        if not ordered:
            items = sort(items, self.order)
        if self.search is not None:
            items = items[:1000]
        total = len(items)
        page = items[self.skip:self.skip + self.top]
        return page, total, self.skip + self.top < total


def sort(items: list[Message], orderby: list[tuple[str, bool]]) -> list[Message]:
    out = list(items)
    for path, desc in reversed(orderby):
        get = getter(path)
        if path in DATES:
            out.sort(key=_date_key(path), reverse=desc)
        else:
            def skey(m: Message, get: Callable[[Message], Any] = get) -> tuple[int, Any]:
                value = get(m)
                if isinstance(value, bool):
                    return (0, int(value))
                if value is None:
                    return (-1, "")
                return (1, str(value).lower())
            out.sort(key=skey, reverse=desc)
    return out


def _date_key(path: str) -> Callable[[Message], str]:
    """Sort key for a date property: Graph's canonical ``2026-11-26T08:10:00Z`` strings sort
    like the instants they name, so only other spellings need parsing."""
    name = path

    def key(m: Message) -> str:
        value = m.props.get(name)
        if isinstance(value, str) and len(value) == 20 and value[-1] == "Z":
            return value
        stamp = to_epoch(str(value or ""))
        if stamp is None:
            return ""
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))

    return key


def parse_select(raw: str | None) -> tuple[str, ...] | None:
    if raw is None:
        return None
    names: list[str] = []
    for part in raw.split(","):
        name = part.strip()
        if not name:
            raise bad_request("Syntax error: empty property name in $select.")
        if name == "*":
            return None
        canonical = property_name(name)
        if canonical not in names:
            names.append(canonical)
    return tuple(names)


def _int(raw: str, name: str, low: int, high: int) -> int:
    if not re.fullmatch(r"\d{1,9}", raw.strip()):
        raise bad_request(f"Invalid value '{raw}' for query option '{name}': expected an "
                          f"integer from {low} to {high}.")
    value = int(raw)
    if not low <= value <= high:
        raise bad_request(f"Invalid value '{raw}' for query option '{name}': expected an "
                          f"integer from {low} to {high}.")
    return value


def parse_orderby(raw: str) -> list[tuple[str, bool]]:
    out: list[tuple[str, bool]] = []
    for part in raw.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and
                                          words[1].lower() not in ("asc", "desc")):
            raise bad_request(f"Syntax error in $orderby: '{part.strip()}'. Use 'property "
                              "[asc|desc]'.")
        path = canonical_path(words[0])
        if path not in _SORTABLE:
            raise bad_request(f"The property '{words[0]}' cannot be used in $orderby.")
        out.append((path, len(words) == 2 and words[1].lower() == "desc"))
    return out


def parse(params: Mapping[str, str], *, default_top: int = 10) -> Query:
    """A :class:`Query` from the request's query string (see module docs)."""
    for key in params:
        if key.startswith("$") and key.lower() not in KNOWN_OPTIONS:
            raise bad_request(f"Query option '{key}' is not supported.")
    lowered = {k.lower(): v for k, v in params.items() if k.startswith("$")}
    q = Query(top=default_top)
    q.select = parse_select(lowered.get("$select"))
    if "$top" in lowered:
        q.top = _int(lowered["$top"], "$top", 1, 1000)
    if "$skip" in lowered:
        q.skip = _int(lowered["$skip"], "$skip", 0, 10**9)
    if "$count" in lowered:
        flag = lowered["$count"].strip().lower()
        if flag not in ("true", "false"):
            raise bad_request("Invalid value for $count: expected true or false.")
        q.count = flag == "true"
    if "$search" in lowered:
        if "$filter" in lowered:
            raise bad_request("The query parameter '$filter' is not supported with '$search'.")
        if "$orderby" in lowered:
            raise bad_request("The query parameter '$orderBy' is not supported with '$search'.")
        q.search = compile_search(lowered["$search"])
        q.orderby = [("sentDateTime", True)]
    if "$filter" in lowered:
        q.where, q.filter_props = compile_filter(lowered["$filter"])
    if "$orderby" in lowered:
        q.orderby = parse_orderby(lowered["$orderby"])
        if q.where is not None:
            wanted = [p for p, _ in q.orderby]
            if q.filter_props[:len(wanted)] != wanted:
                raise INEFFICIENT
    return q


def next_link(base_url: str, params: Mapping[str, str], skip: int) -> str:
    """The request's URL with ``$skip`` advanced (other options kept as sent)."""
    from urllib.parse import urlencode

    kept = [(k, v) for k, v in params.items() if k.lower() != "$skip"]
    kept.append(("$skip", str(skip)))
    return f"{base_url}?{urlencode(kept, safe=_SAFE)}"


_SAFE = "$,/:()'"

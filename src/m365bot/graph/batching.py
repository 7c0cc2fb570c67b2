"""Paging, ``$batch`` and upload-session steps of the Graph engine, without I/O.

* paging: :func:`page_params` sets ``$top`` (up to 1,000) and ``$select``; :func:`next_link`
  reads ``@odata.nextLink``;
* ``$batch``: :func:`chunks` packs :class:`BatchItem` s 20 to a call, keeping each
  ``dependsOn`` chain in one call; :func:`batch_body` builds the JSON; :func:`sort_answers`
  splits the answers into finished items and items to redo (the retry rules below);
* upload sessions: :func:`next_offset` reads ``nextExpectedRanges``;
  :func:`content_range` writes ``Content-Range``.

The rule for a ``$batch`` item that answered 429, 503 or 504 (:func:`sort_answers`):

* 429 on an idempotent (GET, PUT, DELETE...) or ``guarded`` item: redone (a throttled item
  was normally not processed, and redoing these is harmless anyway);
* 429 on any other item (a POST, a PATCH): redone only after its ``check`` says it was not
  applied (the emulator, like Outlook, can answer 429 for an item it ran). Without a
  ``check`` the item is reported as failed with its 429: the caller decides;
* 503/504: redone only when idempotent or guarded (the item may have been applied);
* 401 (the token expired between the call and the item, which was refused before it ran):
  redone once, with a fresh token (:attr:`BatchPlan.expired`); a second 401 is final;
* 424 (a dependency failed) is redone with the dependency it waited for;
* anything else (200, 403, 404...) is final and reported per item.

Example::

    items = [BatchItem("1", "GET", "/users/a@b.com/messages/AAA"),
             BatchItem("2", "POST", "/users/a@b.com/messages/AAA/move",
                       body={"destinationId": "archive"}, guarded=True)]
    body = batch_body(chunks(items)[0])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from m365bot.errors import ConfigError
from m365bot.graph.core import IDEMPOTENT, retry_after

BATCH_LIMIT = 20  # requests per $batch call
PAGE_LIMIT = 1000  # the largest $top Outlook accepts
UPLOAD_CHUNK = 4 * 1024 * 1024  # the largest upload-session chunk (a multiple of 320 KiB)


# -- paging --------------------------------------------------------------------------------------

def page_params(params: dict[str, Any] | None, *, select: Sequence[str] | None = None,
                top: int | None = PAGE_LIMIT) -> dict[str, Any]:
    """The query of a first page: ``$select`` of the caller's fields and ``$top`` (at most
    1,000); the caller's own ``$select`` / ``$top`` win.

    Example::

        page_params({"$filter": "isRead eq false"}, select=["id", "subject"])
        # {'$filter': ..., '$select': 'id,subject', '$top': 1000}
    """
    out = dict(params or {})
    if select and "$select" not in out:
        out["$select"] = ",".join(select)
    if top is not None and "$top" not in out and "$search" not in out:
        if not 1 <= top <= PAGE_LIMIT:
            raise ConfigError(f"top must be 1 to {PAGE_LIMIT}, not {top}", field="top",
                              advice=f"ask for at most {PAGE_LIMIT} items per page")
        out["$top"] = top
    return out


def next_link(body: Any) -> str | None:
    """The ``@odata.nextLink`` of a page, or None on the last page."""
    if isinstance(body, dict):
        link = body.get("@odata.nextLink")
        if isinstance(link, str) and link:
            return link
    return None


def page_items(body: Any) -> list[dict[str, Any]]:
    """The ``value`` list of a page ([] when absent)."""
    if isinstance(body, dict) and isinstance(body.get("value"), list):
        return [v for v in body["value"] if isinstance(v, dict)]
    return []


# -- $batch --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BatchItem:
    """One request of a ``$batch``: ``url`` relative to ``/v1.0`` (``/users/a@b.com/...``),
    ``depends_on`` the ids it waits for, ``guarded`` when a duplicate is harmless or checked,
    ``check`` a "was it applied?" function the engine calls before redoing a non-idempotent
    item that answered 429 (True: applied, do not redo).

    Example::

        BatchItem("m1", "POST", f"/users/{box}/messages/{mid}/move",
                  body={"destinationId": "archive"}, check=lambda: moved(mid))
    """

    id: str
    method: str
    url: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    guarded: bool = False
    check: Callable[[], bool] | None = field(default=None, compare=False)

    @property
    def retry_safe(self) -> bool:
        return self.guarded or self.method.upper() in IDEMPOTENT


@dataclass(frozen=True)
class BatchResult:
    """The final answer of one item: ``status``, ``headers``, ``body``; ``applied`` is True
    when a 429'd item was found applied by its check (``status`` is then the 429).

    Example::

        for r in results:
            if r.ok: ...
            else: print(r.id, r.status, r.error_code)
    """

    id: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    applied: bool = False

    @property
    def ok(self) -> bool:
        return self.status < 400 or self.applied

    @property
    def error_code(self) -> str:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return str(self.body["error"].get("code") or "")
        return ""


def chunks(items: Sequence[BatchItem], size: int = BATCH_LIMIT) -> list[list[BatchItem]]:
    """The items packed ``size`` to a call, in order, each ``dependsOn`` chain kept whole in
    one call. Duplicate ids (ignoring case), unknown dependencies and chains longer than
    ``size`` are a :class:`ConfigError`.

    Example::

        len(chunks([BatchItem(str(i), "GET", "/me") for i in range(45)]))   # 3
    """
    seen: dict[str, int] = {}
    groups: list[list[BatchItem]] = []
    for item in items:
        key = item.id.lower()
        if key in seen:
            raise ConfigError(f"the batch id {item.id!r} is used twice", field="id",
                              advice="give each batch request its own id")
        if not all(d.lower() in seen for d in item.depends_on):
            raise ConfigError(f"batch item {item.id!r} depends on an unknown or later id",
                              field="depends_on", advice="name ids of earlier items")
        joined = {seen[d.lower()] for d in item.depends_on}
        if joined:  # merge the chains it joins into the first one
            first = min(joined)
            for other in sorted(joined - {first}):
                groups[first].extend(groups[other])
                groups[other] = []  # emptied: skipped when the calls are packed
            for it in groups[first]:
                seen[it.id.lower()] = first
            groups[first].append(item)
            seen[key] = first
        else:
            groups.append([item])
            seen[key] = len(groups) - 1
    out: list[list[BatchItem]] = []
    for group in (g for g in groups if g):
        if len(group) > size:
            raise ConfigError(f"a dependsOn chain of {len(group)} requests does not fit in "
                              f"one $batch call of {size}", field="depends_on",
                              advice=f"keep each dependent chain to {size} requests")
        if out and len(out[-1]) + len(group) <= size:
            out[-1].extend(group)
        else:
            out.append(list(group))
    return out


def batch_body(items: Sequence[BatchItem]) -> dict[str, Any]:
    """The JSON of a ``POST /$batch`` call (a body gets ``Content-Type: application/json``)."""
    reqs = []
    for it in items:
        r: dict[str, Any] = {"id": it.id, "method": it.method.upper(), "url": it.url}
        headers = dict(it.headers)
        if it.body is not None:
            headers.setdefault("Content-Type", "application/json")
            r["body"] = it.body
        if headers:
            r["headers"] = headers
        if it.depends_on:
            r["dependsOn"] = list(it.depends_on)
        reqs.append(r)
    return {"requests": reqs}


def parse_batch(body: Any) -> dict[str, BatchResult]:
    """The answers of a ``$batch`` call by id (Graph answers in completion order)."""
    out: dict[str, BatchResult] = {}
    responses = body.get("responses") if isinstance(body, dict) else None
    for r in responses if isinstance(responses, list) else []:
        if isinstance(r, dict) and "id" in r:
            headers = {str(k).lower(): str(v) for k, v in (r.get("headers") or {}).items()}
            out[str(r["id"])] = BatchResult(str(r["id"]), int(r.get("status") or 0), headers,
                                            r.get("body"))
    return out


@dataclass(frozen=True)
class BatchPlan:
    """After one ``$batch`` call: the ``final`` results, the items to ``redo`` (those that
    need their ``check`` first are in ``to_check``), and the wait before redoing
    (``delay``, the largest Retry-After; ``throttled`` when any item answered 429;
    ``expired``: the ids redone because they answered 401, after a token refresh)."""

    final: dict[str, BatchResult]
    redo: list[BatchItem]
    to_check: list[BatchItem]
    delay: float | None
    throttled: bool
    expired: frozenset[str] = frozenset()


def sort_answers(items: Sequence[BatchItem], answers: dict[str, BatchResult],
                 now: float | None = None, *, refresh: bool = False) -> BatchPlan:
    """Split one call's answers by the module's retry rule; ``refresh``: items that
    answered 401 may be redone with a fresh token (not after one refresh already).

    Example::

        plan = sort_answers(items, parse_batch(resp_json))
        plan.redo, plan.final["3"].status
    """
    final: dict[str, BatchResult] = {}
    redo: list[BatchItem] = []
    to_check: list[BatchItem] = []
    delays: list[float] = []
    throttled = False
    expired: set[str] = set()
    for it in items:
        ans = answers.get(it.id)
        if ans is None:  # Graph left it out: redo when safe, else report
            ans = BatchResult(it.id, 0, {}, None)
        status = ans.status
        if status == 401 and refresh:  # refused before it ran: safe for any method
            expired.add(it.id)
            redo.append(it)
            continue
        if status == 429:
            throttled = True
        if status == 429 or (status in (0, 503, 504) and it.retry_safe):
            wait = retry_after(ans.headers, now)
            if wait is not None:
                delays.append(wait)
            if status == 429 and not it.retry_safe:
                if it.check is not None:
                    to_check.append(it)
                    continue
                final[it.id] = ans
                continue
            redo.append(it)
        elif status == 424:
            redo.append(it)
        else:
            final[it.id] = ans
    # a 424 is redone only with the dependency that failed and is being redone
    redo_ids = {i.id.lower() for i in redo} | {i.id.lower() for i in to_check}
    kept = []
    for it in redo:
        if answers.get(it.id) is not None and answers[it.id].status == 424 and not any(
                d.lower() in redo_ids for d in it.depends_on):
            final[it.id] = answers[it.id]
        else:
            kept.append(it)
    return BatchPlan(final, kept, to_check, max(delays) if delays else None, throttled,
                     frozenset(expired))


# -- upload sessions -----------------------------------------------------------------------------

def next_offset(body: Any) -> int | None:
    """The first byte the upload session expects, from ``nextExpectedRanges`` (Graph) or
    ``NextExpectedRanges`` (the Outlook upload host); None when absent (finished).

    Example::

        next_offset({"NextExpectedRanges": ["2097152-"]})     # 2097152
    """
    if not isinstance(body, dict):
        return None
    ranges = body.get("nextExpectedRanges", body.get("NextExpectedRanges"))
    if not isinstance(ranges, list) or not ranges:
        return None
    first = str(ranges[0]).split("-", 1)[0].strip()
    return int(first) if first.isdigit() else None


def content_range(start: int, length: int, total: int) -> str:
    """``bytes start-end/total`` for a chunk of ``length`` bytes at ``start``.

    Example::

        content_range(0, 4194304, 5242880)     # 'bytes 0-4194303/5242880'
    """
    return f"bytes {start}-{start + length - 1}/{total}"


__all__ = ["BATCH_LIMIT", "PAGE_LIMIT", "UPLOAD_CHUNK", "BatchItem", "BatchPlan",
           "BatchResult", "batch_body", "chunks", "content_range", "next_link", "next_offset",
           "page_items", "page_params", "parse_batch", "sort_answers"]

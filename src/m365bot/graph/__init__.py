"""The Graph engine: one way to call Microsoft Graph, sync and async, with Outlook's limits.

The public API (sync :class:`Graph`, async :class:`AsyncGraph`, the same methods)::

    graph = session.graph                   # Graph, sync; session.agraph: AsyncGraph
    r = graph.get(path, params={...})       # GraphResponse: .status .headers .body .request_id
    graph.request(method, path, params=, json=, headers=, immutable_ids=, body_type=,
                  guarded=)                 # also .post / .patch / .delete
    for item in graph.paginate(path, params=, select=["id", "subject"], top=1000): ...
    for page in graph.pages(path, ...): ...           # GraphResponse per page
    results = graph.batch([BatchItem(id, method, url, body=, headers=, depends_on=(),
                                     guarded=, check=)])   # list[BatchResult], items' order
    graph.download(path, "file.eml" | binary_stream)       # streamed; returns bytes written
    graph.upload(upload_url, "big.pdf" | binary_stream)    # chunked PUT, resumes
    # async: await graph.get(...); async for item in graph.paginate(...): ...

Paths are relative to ``/v1.0`` (``/users/{box}/messages``) or full URLs (a nextLink).
``immutable_ids=True`` sends ``Prefer: IdType="ImmutableId"``; ``body_type="text"|"html"``
sends ``Prefer: outlook.body-content-type``. ``guarded=True`` says the caller guards against
duplicates, so a non-idempotent request may be retried after 503/504 or a dropped connection.

Behaviour: HTTP/2 with keep-alive; at most 4 requests in flight per (app, mailbox) across the
threads and tasks of the process (:mod:`~m365bot.graph.limits`); one Retry-After gate per
mailbox, closed by any 429; 429 retried for every method; 503/504/dropped connections retried
only when idempotent or guarded; capped exponential backoff with jitter within the request's
time budget (:class:`~m365bot.graph.core.Policy`); a fresh token per attempt, a 401 refreshes
once and retries once. Errors (:mod:`m365bot.errors`): GraphError (``code``, ``message``,
``request_id``, ``status``), its ThrottledError (``retry_after``) and NotFoundError, AuthError
(401 after the refresh), TransportError (no answer). The rules live without I/O in
:mod:`~m365bot.graph.core` and :mod:`~m365bot.graph.batching`.

Example::

    from m365bot.graph import BatchItem
    box = session.mailbox
    unread = session.graph.paginate(f"/users/{box}/mailFolders/inbox/messages",
                                    params={"$filter": "isRead eq false"}, select=["id"])
    session.graph.batch([BatchItem(m["id"], "PATCH", f"/users/{box}/messages/{m['id']}",
                                   body={"isRead": True}) for m in unread])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from m365bot.graph.aclient import AsyncGraph
    from m365bot.graph.base import GraphResponse
    from m365bot.graph.batching import BatchItem, BatchResult
    from m365bot.graph.client import Graph, GraphClient
    from m365bot.graph.core import Policy

_WHERE = {"Graph": "client", "GraphClient": "client", "AsyncGraph": "aclient",
          "GraphResponse": "base", "BatchItem": "batching", "BatchResult": "batching",
          "Policy": "core"}


def __getattr__(name: str) -> Any:
    # lazy: importing m365bot.graph does not import httpx until an engine is used
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"m365bot.graph.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'm365bot.graph' has no attribute {name!r}")


__all__ = ["AsyncGraph", "BatchItem", "BatchResult", "Graph", "GraphClient", "GraphResponse",
           "Policy"]

"""The sync Graph engine: a thin shell over :mod:`m365bot.graph.core` on one httpx client
(HTTP/2, keep-alive) from the one factory (:mod:`m365bot.net`).

Each attempt takes a fresh token, waits for the mailbox's Retry-After gate, holds one of the
mailbox's 4 slots (:mod:`m365bot.graph.limits`, shared with every thread and task of the
process) while it is on the wire, and asks :func:`~m365bot.graph.core.decide` what next.

Example::

    from m365bot.graph import Graph
    graph = Graph(Cloud.GLOBAL.graph_url, provider, settings, mailbox="ops@contoso.com")
    for msg in graph.paginate("/users/ops@contoso.com/messages", select=["id", "subject"]):
        ...
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import IO, Any

import httpx

from m365bot.auth.tokens import TokenProvider
from m365bot.config import Settings
from m365bot.errors import GraphError, TransportError
from m365bot.graph import batching as bt
from m365bot.graph.base import BaseGraph, GraphResponse, network_outcome
from m365bot.graph.core import Attempt, GraphRequest, Policy, advance
from m365bot.graph.transfer import BatchRun, Download, Upload

log = logging.getLogger("m365bot.graph")


class Graph(BaseGraph):
    """Sends Graph requests for one session (sync). Thread-safe.

    Example::

        graph = Graph("https://graph.microsoft.us", provider, settings, mailbox="a@b.us")
        graph.get("/users/a@b.us/messages", params={"$top": 1}).body["value"]
        graph.post("/users/a@b.us/sendMail", json=msg, guarded=True)
        graph.close()
    """

    def __init__(self, base_url: str, token_provider: TokenProvider, settings: Settings, *,
                 mailbox: str = "me", policy: Policy | None = None,
                 transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(base_url, token_provider, settings, mailbox=mailbox, policy=policy,
                         clock=clock)
        self._sleep = sleep
        self._transport = transport
        # httpx's sync HTTP/2 connection must not be used by two threads at once (the h2
        # state machine breaks: encode/httpx#3072), so each request borrows a client of its
        # own from this pool: as many clients as requests in flight, each kept alive
        self._idle: list[httpx.Client] = [self._new_client()]
        self._lent: set[httpx.Client] = set()
        # upload-session chunks: HTTP/1.1, whose pool threads may share (made on first use)
        self._uploads: httpx.Client | None = None
        self._pool_lock = threading.Lock()
        self._closed = False

    def _new_client(self) -> httpx.Client:
        return self._factory.client(http2=True, transport=self._transport)

    @contextmanager
    def _borrow(self) -> Iterator[httpx.Client]:
        with self._pool_lock:
            if self._closed:
                raise self.closed_error()
            http = self._idle.pop() if self._idle else self._new_client()
            self._lent.add(http)
        try:
            yield http
        finally:
            with self._pool_lock:
                self._lent.discard(http)
                if self._closed:
                    http.close()
                else:
                    self._idle.append(http)  # last in, first out: one thread keeps one

    def _upload_client(self) -> httpx.Client:
        with self._pool_lock:
            if self._closed:
                raise self.closed_error()
            if self._uploads is None:
                self._uploads = self._factory.client(http2=False, transport=self._transport)
            return self._uploads

    @property
    def _http(self) -> httpx.Client | None:
        """The client the next request of this thread will use (None once closed)."""
        with self._pool_lock:
            if self._closed:
                return None
            if not self._idle:
                self._idle.append(self._new_client())
            return self._idle[-1]

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close the HTTP connections. Later requests raise SessionError."""
        with self._pool_lock:
            self._closed = True
            idle, self._idle = self._idle, []
            if self._uploads is not None:
                idle.append(self._uploads)
                self._uploads = None
        for http in idle:
            http.close()

    def __enter__(self) -> Graph:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one request ----------------------------------------------------------------------
    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                json: Any = None, headers: dict[str, str] | None = None,
                immutable_ids: bool = False, body_type: str | None = None,
                guarded: bool = False, accept: frozenset[int] = frozenset()) -> GraphResponse:
        """Send one Graph request (``path`` relative to ``/v1.0``, or a full URL) with the
        engine's auth, limits and retries. ``guarded=True``: the caller checks duplicates
        itself, so a POST may be retried after 503/504/a dropped connection. ``accept``:
        error statuses answered to the caller as they are, neither retried nor raised (a
        create that Outlook may have carried out although it answered 429).
        Raises GraphError (NotFoundError, ThrottledError), AuthError or TransportError.

        Example::

            graph.request("PATCH", f"/users/{box}/messages/{mid}", json={"isRead": True})
        """
        req = self.build(method, path, params=params, json=json, headers=headers,
                         immutable_ids=immutable_ids, body_type=body_type, guarded=guarded,
                         accept=accept)
        return self.send(req)

    def get(self, path: str, *, params: dict[str, Any] | None = None,
            **options: Any) -> GraphResponse:
        """GET ``path``; ``options`` as for :meth:`request`."""
        return self.request("GET", path, params=params, **options)

    def post(self, path: str, *, json: Any = None, **options: Any) -> GraphResponse:
        """POST ``json`` to ``path`` (not retried after 503/504 unless ``guarded=True``)."""
        return self.request("POST", path, json=json, **options)

    def patch(self, path: str, *, json: Any = None, **options: Any) -> GraphResponse:
        """PATCH ``path`` with ``json``."""
        return self.request("PATCH", path, json=json, **options)

    def delete(self, path: str, **options: Any) -> GraphResponse:
        """DELETE ``path``."""
        return self.request("DELETE", path, **options)

    def send(self, req: GraphRequest,
             consume: Callable[[httpx.Response], None] | None = None) -> GraphResponse:
        """Send a built request through the retry loop. ``consume`` reads a successful
        answer's body as a stream (a download), inside the mailbox slot."""
        state = Attempt(started=self._clock())
        delay, force = 0.0, False
        while True:
            # a token for every attempt (cached until near expiry); an upload chunk sends none
            # but its app names the mailbox's limiter
            token = self.token_provider.get_token(force_refresh=force)
            lim = self.limiter(req.mailbox, token)
            if (pause := self.pause(req, state, delay, lim)) > 0:
                self._sleep(pause)
            exc: httpx.HTTPError | None = None
            body = b""
            with lim.slot(req.slots):
                try:
                    resp = self._exchange(req, token, consume)
                    outcome, body = self.answer(resp, streamed=consume is not None)
                except httpx.HTTPError as e:
                    exc, outcome = e, network_outcome(e)
            try:
                step = self.conclude(req, outcome, body, exc, state, lim)
            except GraphError as err:
                if (instead := self.rechecked(err)) is None:
                    raise
                raise instead from None
            if isinstance(step, GraphResponse):
                return step
            state, delay, force = advance(state, step), step.delay, step.action == "refresh"

    def _exchange(self, req: GraphRequest, token: Any,
                  consume: Callable[[httpx.Response], None] | None) -> httpx.Response:
        with self._borrow() if req.http2 else nullcontext(self._upload_client()) as http:
            request = http.build_request(req.method, req.url, json=req.json,
                                         content=req.content, headers=self.headers(req, token))
            resp = http.send(request, stream=True)
            try:
                if consume is not None and resp.status_code < 300:
                    consume(resp)
                else:
                    resp.read()
            finally:
                resp.close()
                # httpx keeps a streamed response and its request in a reference cycle that
                # only a full garbage collection frees: cut it, or every upload chunk (4 MiB)
                # stays in memory until then (a 100 MB upload grew peak RSS by 77 MB)
                request.stream = resp.stream = httpx.ByteStream(b"")
            return resp

    # -- many requests ----------------------------------------------------------------------
    def pages(self, path: str, *, params: dict[str, Any] | None = None,
              select: Sequence[str] | None = None, top: int | None = bt.PAGE_LIMIT,
              **options: Any) -> Iterator[GraphResponse]:
        """Every page of a collection, following ``@odata.nextLink``.

        Example::

            for page in graph.pages(f"/users/{box}/mailFolders/inbox/messages"): ...
        """
        url: str | None = path
        query: dict[str, Any] | None = bt.page_params(params, select=select, top=top)
        while url is not None:
            page = self.get(url, params=query, **options)
            yield page
            url, query = bt.next_link(page.body), None

    def paginate(self, path: str, *, params: dict[str, Any] | None = None,
                 select: Sequence[str] | None = None, top: int | None = bt.PAGE_LIMIT,
                 **options: Any) -> Iterator[dict[str, Any]]:
        """Every item of a collection, page after page (``$top`` 1,000 and the caller's
        ``$select`` fields by default).

        Example::

            for msg in graph.paginate(f"/users/{box}/messages", select=["id", "subject"]):
                print(msg["subject"])
        """
        for page in self.pages(path, params=params, select=select, top=top, **options):
            yield from bt.page_items(page.body)

    def batch(self, items: Sequence[bt.BatchItem]) -> list[bt.BatchResult]:
        """Run ``items`` through ``$batch`` (20 per call, ``dependsOn`` chains kept together),
        redoing only the items that failed for a retryable reason (429s; 401s once, after a
        token refresh; see
        :mod:`m365bot.graph.batching`); results in the order of ``items``, each with its own
        status (a 403 is reported, not raised).

        Example::

            results = graph.batch([BatchItem(str(i), "GET", f"/users/{box}/messages/{m}")
                                   for i, m in enumerate(ids)])
        """
        results: dict[str, bt.BatchResult] = {}
        for chunk in bt.chunks(items):
            run = BatchRun(self, chunk)
            while (req := run.next_call()) is not None:
                if run.delay and not run.gate:  # a 429 waits at the mailbox's gate instead
                    self._sleep(run.delay)
                run.settle(self.send(req))
                if run.refresh:  # items refused for an expired token: redone with a new one
                    self.token_provider.get_token(force_refresh=True)
                if run.gate:
                    self.limiter(req.mailbox, self.token_provider.get_token()).close_gate(
                        run.gate)
                run.checked([(it, bool(it.check())) for it in run.to_check
                             if it.check is not None])
            results.update(run.results)
        out = [results[it.id] for it in items]
        if (refusal := self.batch_refusal(out)) is not None and (
                instead := self.rechecked(refusal)) is not refusal and instead is not None:
            raise instead  # the mailbox went away since Connect's check, which was skipped
        return out

    # -- bodies -----------------------------------------------------------------------------
    def download(self, path: str, dest: str | Path | IO[bytes], *,
                 params: dict[str, Any] | None = None) -> int:
        """Stream a body (``…/$value``, an attachment) to a file path or a binary stream,
        never holding it whole in memory; returns the number of bytes written.

        Example::

            graph.download(f"/users/{box}/messages/{mid}/$value", "mail.eml")
        """
        with Download(dest) as d:
            self.send(self.build("GET", path, params=params), consume=d.write_from)
            return d.written

    def upload(self, upload_url: str, source: str | Path | IO[bytes], *,
               size: int | None = None, chunk_size: int = bt.UPLOAD_CHUNK,
               mailbox: str | None = None) -> GraphResponse:
        """Send a file (path or binary stream) to an upload session's ``uploadUrl`` in chunks
        (PUT with ``Content-Range``, no Authorization: the URL carries its credential). After
        a dropped connection or a 5xx it resumes from the server's ``nextExpectedRanges``.
        Returns the last answer (201 with ``Location``).

        Example::

            s = graph.post(f"/users/{box}/messages/{mid}/attachments/createUploadSession",
                           json={"AttachmentItem": {...}}).body
            graph.upload(s["uploadUrl"], "big.pdf")
        """
        with Upload(self, upload_url, source, size=size, chunk_size=chunk_size,
                    mailbox=mailbox) as up:
            while (req := up.next_chunk()) is not None:
                try:
                    up.settle(self.send(req))
                except (GraphError, TransportError) as exc:
                    up.recover(exc)
            return up.last

    def __repr__(self) -> str:
        return f"<Graph {self.base_url} {'closed' if self.closed else 'open'}>"


GraphClient = Graph  # the name Connect's first version used

__all__ = ["Graph", "GraphClient", "GraphResponse"]

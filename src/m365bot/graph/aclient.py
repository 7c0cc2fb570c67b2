"""The async Graph engine: the twin of :class:`~m365bot.graph.client.Graph` on an
``httpx.AsyncClient`` (HTTP/2, keep-alive), with the same core decisions and the same
process-wide per-mailbox limits (a task waits for a slot without blocking the event loop).

The token source is sync (msal): it runs in a worker thread, so a refresh never blocks the
loop. The HTTP client belongs to the event loop that first used it; call :meth:`aclose` (or
``async with``) in that loop when done.

Example::

    async with AsyncGraph(base_url, provider, settings, mailbox=box) as graph:
        msgs = [m async for m in graph.paginate(f"/users/{box}/messages", select=["id"])]
"""

from __future__ import annotations

import asyncio
import inspect
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import IO, Any

import httpx

from m365bot.auth.tokens import REFRESH_MARGIN, AccessToken, TokenProvider
from m365bot.config import Settings
from m365bot.errors import GraphError, TransportError
from m365bot.graph import batching as bt
from m365bot.graph.base import BaseGraph, GraphResponse, network_outcome
from m365bot.graph.core import Attempt, GraphRequest, Policy, advance
from m365bot.graph.transfer import BatchRun, Download, Upload


class AsyncGraph(BaseGraph):
    """Sends Graph requests for one session from asyncio tasks.

    Example::

        graph = session.agraph
        r = await graph.get(f"/users/{box}/mailFolders/inbox", params={"$select": "id"})
        await graph.aclose()
    """

    def __init__(self, base_url: str, token_provider: TokenProvider, settings: Settings, *,
                 mailbox: str = "me", policy: Policy | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(base_url, token_provider, settings, mailbox=mailbox, policy=policy,
                         clock=clock)
        self._sleep = sleep
        self._transport = transport
        # an httpx.AsyncClient belongs to one event loop: one per loop that uses this engine
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]
        self._clients = weakref.WeakKeyDictionary()
        # upload-session chunks: over HTTP/1.1 connections of their own (GraphRequest.http2)
        self._upload_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop,
                                                        httpx.AsyncClient]
        self._upload_clients = weakref.WeakKeyDictionary()
        self._closed = False
        self._held: AccessToken | None = None  # the last token the provider gave

    @property
    def closed(self) -> bool:
        return self._closed

    def _client(self, http2: bool = True) -> httpx.AsyncClient:
        if self._closed:
            raise self.closed_error()
        loop = asyncio.get_running_loop()
        clients = self._clients if http2 else self._upload_clients
        http = clients.get(loop)
        if http is None:
            http = clients[loop] = self._factory.async_client(
                http2=http2, transport=self._transport)
        return http

    async def aclose(self) -> None:
        """Close this event loop's HTTP connections; later requests raise SessionError."""
        self._closed = True
        loop = asyncio.get_running_loop()
        for clients in (self._clients, self._upload_clients):
            http = clients.pop(loop, None)
            if http is not None:
                await http.aclose()

    def close(self) -> None:
        """Mark closed from sync code (open connections close with their event loop)."""
        self._closed = True
        self._clients.clear()
        self._upload_clients.clear()

    async def __aenter__(self) -> AsyncGraph:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- one request ----------------------------------------------------------------------
    async def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                      json: Any = None, headers: dict[str, str] | None = None,
                      immutable_ids: bool = False, body_type: str | None = None,
                      guarded: bool = False, accept: frozenset[int] = frozenset()
                      ) -> GraphResponse:
        """Send one Graph request; as :meth:`Graph.request <m365bot.graph.client.Graph.request>`.

        Example::

            await graph.request("PATCH", f"/users/{box}/messages/{mid}", json={"isRead": True})
        """
        req = self.build(method, path, params=params, json=json, headers=headers,
                         immutable_ids=immutable_ids, body_type=body_type, guarded=guarded,
                         accept=accept)
        return await self.send(req)

    async def get(self, path: str, *, params: dict[str, Any] | None = None,
                  **options: Any) -> GraphResponse:
        """GET ``path``."""
        return await self.request("GET", path, params=params, **options)

    async def post(self, path: str, *, json: Any = None, **options: Any) -> GraphResponse:
        """POST ``json`` to ``path`` (not retried after 503/504 unless ``guarded=True``)."""
        return await self.request("POST", path, json=json, **options)

    async def patch(self, path: str, *, json: Any = None, **options: Any) -> GraphResponse:
        """PATCH ``path`` with ``json``."""
        return await self.request("PATCH", path, json=json, **options)

    async def delete(self, path: str, **options: Any) -> GraphResponse:
        """DELETE ``path``."""
        return await self.request("DELETE", path, **options)

    async def _token(self, req: GraphRequest, force: bool) -> AccessToken:
        held = self._held
        if not force and held is not None and held.expires_in(self._clock()) > REFRESH_MARGIN:
            return held  # what the provider's cache would give, without a worker thread
        # in a worker thread: a refresh through msal must not block the event loop
        self._held = await asyncio.to_thread(self.token_provider.get_token, force_refresh=force)
        return self._held

    async def send(self, req: GraphRequest,
                   consume: Callable[[httpx.Response], Awaitable[None]] | None = None
                   ) -> GraphResponse:
        """Send a built request through the retry loop (see the sync twin)."""
        state = Attempt(started=self._clock())
        delay, force = 0.0, False
        while True:
            token = await self._token(req, force)
            lim = self.limiter(req.mailbox, token)
            if (pause := self.pause(req, state, delay, lim)) > 0:
                await self._sleep(pause)
            exc: httpx.HTTPError | None = None
            body = b""
            async with lim.aslot(req.slots):
                try:
                    resp = await self._exchange(req, token, consume)
                    outcome, body = self.answer(resp, streamed=consume is not None)
                except httpx.HTTPError as e:
                    exc, outcome = e, network_outcome(e)
            try:
                step = self.conclude(req, outcome, body, exc, state, lim)
            except GraphError as err:
                if self.recheck is None:
                    raise
                # the check is a sync request: in a worker thread, off the event loop
                if (instead := await asyncio.to_thread(self.rechecked, err)) is None:
                    raise
                raise instead from None
            if isinstance(step, GraphResponse):
                return step
            state, delay, force = advance(state, step), step.delay, step.action == "refresh"

    async def _exchange(self, req: GraphRequest, token: AccessToken | None,
                        consume: Callable[[httpx.Response], Awaitable[None]] | None
                        ) -> httpx.Response:
        http = self._client(req.http2)
        request = http.build_request(req.method, req.url, json=req.json, content=req.content,
                                     headers=self.headers(req, token))
        resp = await http.send(request, stream=True)
        try:
            if consume is not None and resp.status_code < 300:
                await consume(resp)
            else:
                await resp.aread()
        finally:
            await resp.aclose()
            # the request-response cycle holds the body: see Graph._exchange
            request.stream = resp.stream = httpx.ByteStream(b"")
        return resp

    # -- many requests ----------------------------------------------------------------------
    async def pages(self, path: str, *, params: dict[str, Any] | None = None,
                    select: Sequence[str] | None = None, top: int | None = bt.PAGE_LIMIT,
                    **options: Any) -> AsyncIterator[GraphResponse]:
        """Every page of a collection, following ``@odata.nextLink``."""
        url: str | None = path
        query: dict[str, Any] | None = bt.page_params(params, select=select, top=top)
        while url is not None:
            page = await self.get(url, params=query, **options)
            yield page
            url, query = bt.next_link(page.body), None

    async def paginate(self, path: str, *, params: dict[str, Any] | None = None,
                       select: Sequence[str] | None = None, top: int | None = bt.PAGE_LIMIT,
                       **options: Any) -> AsyncIterator[dict[str, Any]]:
        """Every item of a collection, page after page.

        Example::

            async for msg in graph.paginate(f"/users/{box}/messages", select=["id"]): ...
        """
        async for page in self.pages(path, params=params, select=select, top=top, **options):
            for item in bt.page_items(page.body):
                yield item

    async def batch(self, items: Sequence[bt.BatchItem]) -> list[bt.BatchResult]:
        """Run ``items`` through ``$batch``; as the sync twin. A ``check`` may be a plain
        function (run in a worker thread) or a coroutine function."""
        results: dict[str, bt.BatchResult] = {}
        for chunk in bt.chunks(items):
            run = BatchRun(self, chunk)
            while (req := run.next_call()) is not None:
                if run.delay and not run.gate:
                    await self._sleep(run.delay)
                run.settle(await self.send(req))
                if run.refresh:  # items refused for an expired token: redone with a new one
                    await self._token(req, True)
                if run.gate:
                    token = await self._token(req, False)
                    self.limiter(req.mailbox, token).close_gate(run.gate)
                run.checked([(it, await _check(it)) for it in run.to_check])
            results.update(run.results)
        out = [results[it.id] for it in items]
        if (refusal := self.batch_refusal(out)) is not None and (
                instead := await asyncio.to_thread(self.rechecked, refusal)) is not refusal \
                and instead is not None:
            raise instead  # the mailbox went away since Connect's check (see the sync twin)
        return out

    # -- bodies -----------------------------------------------------------------------------
    async def download(self, path: str, dest: str | Path | IO[bytes], *,
                       params: dict[str, Any] | None = None) -> int:
        """Stream a body to a file path or binary stream; returns the bytes written."""
        with Download(dest) as d:
            await self.send(self.build("GET", path, params=params), consume=d.awrite_from)
            return d.written

    async def upload(self, upload_url: str, source: str | Path | IO[bytes], *,
                     size: int | None = None, chunk_size: int = bt.UPLOAD_CHUNK,
                     mailbox: str | None = None) -> GraphResponse:
        """Send a file to an upload session in chunks; as the sync twin."""
        with Upload(self, upload_url, source, size=size, chunk_size=chunk_size,
                    mailbox=mailbox) as up:
            while (req := up.next_chunk()) is not None:
                try:
                    up.settle(await self.send(req))
                except (GraphError, TransportError) as exc:
                    up.recover(exc)
            return up.last

    def __repr__(self) -> str:
        return f"<AsyncGraph {self.base_url} {'closed' if self.closed else 'open'}>"


async def _check(item: bt.BatchItem) -> bool:
    assert item.check is not None
    if inspect.iscoroutinefunction(item.check):
        return bool(await item.check())
    return bool(await asyncio.to_thread(item.check))


__all__ = ["AsyncGraph"]

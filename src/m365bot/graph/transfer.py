"""The steps of the engine's longer jobs, shared by the sync and async shells, which do the
network I/O: a ``$batch`` run with its item retries (:class:`BatchRun`), a download to a
file or stream (:class:`Download`), and an upload session's chunks (:class:`Upload`).

Example::

    run = BatchRun(graph, chunk)
    while (req := run.next_call()) is not None:
        run.settle(graph.send(req))
        run.checked([(it, it.check()) for it in run.to_check])
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from m365bot.errors import ConfigError, GraphError, M365BotError, TransportError
from m365bot.graph import batching as bt
from m365bot.graph.core import Attempt, GraphRequest, mailbox_of

if TYPE_CHECKING:
    from m365bot.graph.base import BaseGraph, GraphResponse


class BatchRun:
    """One chunk of ≤ 20 batch items through its rounds: send the pending items, keep the
    final answers, redo the retryable ones after the largest Retry-After, within the
    engine's time budget and attempt limit (then the last answers are final)."""

    def __init__(self, engine: BaseGraph, items: Sequence[bt.BatchItem]) -> None:
        self.engine = engine
        self.pending = list(items)
        self.results: dict[str, bt.BatchResult] = {}
        self.last: dict[str, bt.BatchResult] = {}
        self.to_check: list[bt.BatchItem] = []
        self.delay = 0.0
        self.gate = 0.0  # seconds to close the mailbox's gate for (an item answered 429)
        self.refresh = False  # items answered 401: get a fresh token before the next call
        self._refreshed = False  # once per chunk: a second 401 is final
        self.state = Attempt(started=engine._clock())

    def next_call(self) -> GraphRequest | None:
        """The next ``POST /$batch`` call, or None when every item is settled."""
        if not self.pending:
            return None
        policy = self.engine.policy
        spent = self.state.spent(self.engine._clock())
        if self.state.attempts >= policy.max_attempts or spent + self.delay > policy.budget:
            for it in self.pending:  # out of time: the last answers are final
                self.results[it.id] = self.last.get(it.id, bt.BatchResult(it.id, 0))
            self.pending = []
            return None
        # a dependency that already succeeded (or was found applied) is not sent again: drop
        # it from dependsOn, or Graph would refuse the whole call
        sent = {it.id.lower() for it in self.pending}
        self.pending = [replace(it, depends_on=tuple(d for d in it.depends_on
                                                     if d.lower() in sent))
                        for it in self.pending]
        req = self.engine.build("POST", "/$batch", json=bt.batch_body(self.pending),
                                guarded=all(it.retry_safe for it in self.pending))
        box = mailbox_of(self.engine.base_url + "/v1.0" + self.pending[0].url,
                         self.engine.mailbox)
        # Outlook runs up to 4 items of a batch at once, each counting against the mailbox
        return replace(req, mailbox=box, slots=min(len(self.pending), 4))

    def settle(self, resp: GraphResponse) -> None:
        """Take one call's answers: final ones kept, retryable ones pending again."""
        answers = bt.parse_batch(resp.body)
        self.last.update(answers)
        plan = bt.sort_answers(self.pending, answers, self.engine._clock(),
                               refresh=not self._refreshed)
        self.results.update(plan.final)
        self.pending, self.to_check = list(plan.redo), list(plan.to_check)
        self.refresh = bool(plan.expired)
        self._refreshed = self._refreshed or self.refresh
        waiting = self.to_check or any(it.id not in plan.expired for it in self.pending)
        self.delay = plan.delay if plan.delay is not None else (
            0.5 * 2 ** self.state.retries if waiting else 0.0)  # a 401 needs no backoff
        self.gate = self.delay if plan.throttled else 0.0
        self.state = replace(self.state, attempts=self.state.attempts + 1,
                             retries=self.state.retries + 1,
                             waited=self.state.waited + self.delay)

    def checked(self, outcomes: Sequence[tuple[bt.BatchItem, bool]]) -> None:
        """The "was it applied?" answers of :attr:`to_check`: applied items are final (with
        ``applied=True``), the others are redone."""
        for item, applied in outcomes:
            if applied:
                self.results[item.id] = replace(self.last[item.id], applied=True)
            else:
                self.pending.append(item)
        self.to_check = []


class Download:
    """A download's destination: a path (written to ``name.part``, renamed when complete) or
    a binary stream. A retried download starts the file again."""

    def __init__(self, dest: str | Path | IO[bytes]) -> None:
        self.path = None if hasattr(dest, "write") else Path(dest)  # type: ignore[arg-type]
        self._stream: IO[bytes] | None = None if self.path else dest  # type: ignore[assignment]
        self._start = 0
        self.written = 0

    def __enter__(self) -> Download:
        if self.path is not None:
            self._part = self.path.with_name(self.path.name + ".part")
            self._stream = open(self._part, "wb")
        elif self._stream is not None and self._stream.seekable():
            self._start = self._stream.tell()
        return self

    def reset(self) -> None:
        """Start again (a retried attempt)."""
        assert self._stream is not None
        if self.written and self._stream.seekable():
            self._stream.seek(self._start)
            self._stream.truncate()
        elif self.written:
            raise TransportError("the download broke after part of it was written to a "
                                 "stream that cannot rewind",
                                 advice="download to a file path, or retry the action")
        self.written = 0

    def write(self, chunk: bytes) -> None:
        assert self._stream is not None
        self._stream.write(chunk)
        self.written += len(chunk)

    def write_from(self, resp: Any) -> None:
        """Write a sync httpx response's body, chunk by chunk."""
        self.reset()
        for chunk in resp.iter_bytes():
            self.write(chunk)

    async def awrite_from(self, resp: Any) -> None:
        """Write an async httpx response's body, chunk by chunk."""
        self.reset()
        async for chunk in resp.aiter_bytes():
            self.write(chunk)

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self.path is not None and self._stream is not None:
            self._stream.close()
            if exc_type is None:
                os.replace(self._part, self.path)
            else:
                self._part.unlink(missing_ok=True)


class Upload:
    """An upload session's chunks, read from the source one at a time (memory stays at one
    chunk). The offset follows the server's ``nextExpectedRanges``: after a 416 (the chunk
    had arrived before the connection dropped) or a recovered failure."""

    RECOVERIES = 5  # failed chunks in a row before giving up

    def __init__(self, engine: BaseGraph, url: str, source: str | Path | IO[bytes], *,
                 size: int | None, chunk_size: int, mailbox: str | None) -> None:
        if not 0 < chunk_size <= bt.UPLOAD_CHUNK:
            raise ConfigError(f"chunk_size must be 1 to {bt.UPLOAD_CHUNK} bytes",
                              field="chunk_size", advice="use at most 4 MiB per chunk")
        self.engine, self.url, self.chunk_size = engine, url, chunk_size
        self.mailbox = (mailbox or engine.mailbox).lower()
        self._source = source
        self._size = size
        self.offset = 0
        self.failures = 0
        self.finished = False
        self._last: GraphResponse | None = None

    def __enter__(self) -> Upload:
        if hasattr(self._source, "read"):
            self._file: IO[bytes] = self._source  # type: ignore[assignment]
            self._own = False
        else:
            self._file = open(self._source, "rb")  # type: ignore[arg-type]
            self._own = True
        if self._size is None:
            self._base = self._file.tell()
            self._size = self._file.seek(0, os.SEEK_END) - self._base
        else:
            self._base = self._file.tell()
        return self

    @property
    def last(self) -> GraphResponse:
        assert self._last is not None
        return self._last

    def next_chunk(self) -> GraphRequest | None:
        """The PUT of the next chunk, or None when the upload is complete."""
        assert self._size is not None
        if self.finished:
            return None
        self._file.seek(self._base + self.offset)
        data = self._file.read(min(self.chunk_size, self._size - self.offset))
        headers = {"Content-Range": bt.content_range(self.offset, len(data), self._size),
                   "Content-Type": "application/octet-stream"}
        return GraphRequest("PUT", self.url, headers, content=data, mailbox=self.mailbox,
                            auth=False, accept=frozenset({416}), http2=False)

    def settle(self, resp: GraphResponse) -> None:
        """Move to where the server expects the next byte."""
        assert self._size is not None
        self._last = resp
        if resp.status == 416 or resp.status == 200:
            nxt = bt.next_offset(resp.body)
            if nxt is None or nxt > self._size:
                raise GraphError("the upload session answered without a next range",
                                 status=resp.status, code="ErrorInvalidRange",
                                 advice="create a new upload session and upload again")
            self.failures = self.failures + 1 if (resp.status == 416 and nxt == self.offset) \
                else 0
            if self.failures > self.RECOVERIES:
                raise GraphError("the upload session keeps refusing the same range",
                                 status=416, code="ErrorInvalidRange",
                                 advice="create a new upload session and upload again")
            self.offset = nxt
            return
        self.finished = True  # 201 (the attachment) or another success

    def recover(self, exc: M365BotError) -> None:
        """After a failed chunk: try it again (a 416 then tells where the server is), or
        re-raise when it is not a passing failure or keeps failing."""
        passing = isinstance(exc, TransportError) or (
            isinstance(exc, GraphError) and exc.status in (429, 500, 502, 503, 504))
        self.failures += 1
        if not passing or self.failures > self.RECOVERIES:
            raise exc

    def __exit__(self, *exc: object) -> None:
        if self._own:
            self._file.close()


__all__ = ["BatchRun", "Download", "Upload"]

"""The bulk runner: one action over many emails through ``$batch`` (20 requests per call, at
the mailbox's limit of 4 in flight), a per-item :class:`~m365bot.outlook.models.Result`, and a
journal that lets a crashed run resume without redoing what was done.

**The journal** is a file under ``Settings.data_dir/jobs/<job>.jsonl`` (mode 0600), one JSON
object per line. Its first line holds the whole state; each later line, what changed since
the line before, appended and synced: a write costs what one chunk changed, not the size of
the job (a job of 20,000 items rewrote megabytes per chunk when every write was the whole
state). Before a chunk of 20 is sent, its items are written as *pending*; when the answers
are in, they are *done* with their result, written with the next chunk's pending items (one
synced write per ``$batch`` call) or at the end. Each write also marks the following chunk
pending ahead of time, so that this chunk's write can run in the background while the
chunk's requests are out: no item is ever sent before a finished write names it. A crash
during a write leaves its line cut short; opening the journal ignores that last line (no
request it named had gone out) and the next write replaces the file with one whole line.
A rerun with the same job id skips the done items (their Result has ``skipped=True``) and,
for a pending item of a non-idempotent action (move, copy, permanent delete), first asks
Graph whether it was applied (the item's *check*) before sending it again: an item a crash
caught between its answer and the next write is still pending, so it is checked, never
redone blindly. When every item of a job succeeded the journal is removed; after failures
it stays, rewritten as one line, so a rerun redoes only the failed items.

**Retries.** The engine retries throttled (429) items, and items refused for an expired token
(401) once with a fresh one; for a non-idempotent item that answered
429 it calls the item's check first (Outlook can answer 429 for an item it ran). An item that
got no clear answer (503, 504, a lost connection) is checked here, and sent again only if the
check says it was not applied, up to :data:`ROUNDS` times; the last round's unclear answer is
checked too, so an item reported failed was not applied (and a rerun sends it).

The runner is written once as a plan of :class:`BatchStep` / :class:`CheckStep` steps and
driven by :func:`run_job` (sync) or :func:`arun_job` (async).

Example::

    job = BulkJob(Journal.open(settings, "move-invoices", "move"), items)
    results = run_job(session, job)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from m365bot.errors import ConfigError, GraphError, TransportError
from m365bot.graph.batching import BATCH_LIMIT, BatchItem, BatchResult
from m365bot.outlook.models import Result
from m365bot.outlook.plans import Plan, arun, run

if TYPE_CHECKING:
    from m365bot.config import Settings
    from m365bot.sessions import Session

log = logging.getLogger(__name__)

ROUNDS = 4  # sends of one item at most (the first and three redos after "was it applied?")
AMBIGUOUS = {0, 429, 502, 503, 504}  # no clear answer: the item may have been applied
_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
Progress = Callable[[int, int], None]
"""``progress(done, total)``: called after each chunk (and once with the total at the start)."""


# -- the journal -------------------------------------------------------------------------------

def check_job_id(job: str, field: str = "job") -> str:
    if not isinstance(job, str) or not _JOB_ID.match(job):
        raise ConfigError(f"{field}: {job!r} is not a job id", field=field,
                          advice="use letters, digits, '.', '_' or '-' (at most 100), "
                          "starting with a letter or digit")
    return job


def derive_job_id(action: str, mailbox: str, what: Any) -> str:
    """A job id from the action, the mailbox and what it works on (filters, target, ids):
    the same request gets the same id, so a rerun after a crash resumes it."""
    data = json.dumps([action, mailbox.lower(), what], sort_keys=True, default=str)
    return f"{action}-{hashlib.sha256(data.encode()).hexdigest()[:16]}"


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, readable by its owner only (0600)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def append_synced(path: Path, data: bytes) -> None:
    """Append ``data`` to the existing file ``path`` and sync it."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


@dataclass
class Journal:
    """What a bulk job has done so far (see the module's docs). Thread-safe use is the
    runner's: one job, one writer. ``note`` records a value a rerun needs (the file name an
    attachment reserved)."""

    path: Path
    job: str
    action: str
    done: dict[str, dict[str, Any]] = field(default_factory=dict)
    pending: set[str] = field(default_factory=set)
    notes: dict[str, str] = field(default_factory=dict)
    unsaved: bool = False  # results recorded since the last write
    resumed: set[str] = field(default_factory=set)  # pending when opened: a crashed run's
    _written: frozenset[str] = field(default=frozenset(), repr=False)  # pending on disk
    _whole: bool = field(default=True, repr=False)  # the next write replaces the file
    _change: dict[str, Any] = field(default_factory=dict, repr=False)  # since the last write
    _writer: threading.Thread | None = field(default=None, repr=False)
    _failure: list[BaseException] = field(default_factory=list, repr=False)

    @classmethod
    def open(cls, settings: Settings, job: str, action: str) -> Journal:
        path = Path(settings.data_dir) / "jobs" / f"{check_job_id(job)}.jsonl"
        journal = cls(path, job, action)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return journal
        lines = raw.splitlines()
        for n, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ValueError("not a JSON object")
            except ValueError:
                if n == len(lines):  # a write a crash cut short: nothing it named went out
                    log.warning("job %s: the journal's last write was cut short; ignored", job)
                    break
                raise ConfigError(f"job: the journal {str(path)!r} is damaged (line {n})",
                                  field="job", advice="restore the file, or remove it to run "
                                  "the job from the start (a copy job then copies again)"
                                  ) from None
            if n == 1 and record.get("action") != action:
                raise ConfigError(f"job: {job!r} is a {record.get('action')!r} job, not "
                                  f"{action!r}", field="job",
                                  advice="give this action its own job id")
            journal._replay(record)
        journal.resumed = set(journal.pending)
        journal._written = frozenset(journal.pending)
        # a cut-short line is replaced, so no later line is glued to it
        journal._whole = not raw.endswith(b"\n")
        return journal

    def _replay(self, record: dict[str, Any]) -> None:
        """Apply one line: results first, then the items it marks pending."""
        for key, entry in (record.get("done") or {}).items():
            self.done[key] = entry
            self.pending.discard(key)
        self.pending.difference_update(record.get("cleared") or ())
        self.pending.update(record.get("pending") or ())
        self.notes.update(record.get("notes") or {})

    def note(self, key: str, value: str) -> None:
        """Remember ``value`` for ``key`` (written with the next write)."""
        self.notes[key] = value
        self._change.setdefault("notes", {})[key] = value

    def _line(self) -> tuple[bytes, bool, frozenset[str]]:
        """The next write: the whole state (the file's first line, or one that replaces the
        file), else what changed since the last write; and the pending items it leaves on
        disk."""
        whole = self._whole
        if whole:
            record: dict[str, Any] = {"version": 2, "job": self.job, "action": self.action,
                                      "done": self.done, "notes": self.notes}
        else:
            record = self._change
        # a change names the items newly pending; the others are on disk already
        record["pending"] = sorted(self.pending if whole else self.pending - self._written)
        data = (json.dumps(record) + "\n").encode()
        self._change, self._whole, self.unsaved = {}, False, False
        return data, whole, frozenset(self.pending)

    def _write(self, data: bytes, whole: bool, pending: frozenset[str]) -> None:
        try:
            if whole:
                write_private(self.path, data)
            else:
                append_synced(self.path, data)
            self._written = pending
        except BaseException as exc:  # raised again by the next wait
            self._failure.append(exc)

    def _wait(self) -> None:
        """Wait for a write running in the background; raise what it raised."""
        if self._writer is not None:
            self._writer.join()
            self._writer = None
        if self._failure:
            raise self._failure.pop()

    def save(self, *, whole: bool = False) -> None:
        self._wait()
        self._whole = self._whole or whole
        self._write(*self._line())
        self._wait()

    def begin(self, keys: Iterable[str], ahead: Iterable[str] = ()) -> None:
        """Mark ``keys`` pending, written (with the results recorded so far) before their
        requests go out; ``ahead`` (the next chunk's keys) is marked pending too. When an
        earlier write named every one of ``keys`` already, this write runs in the
        background, while their requests are out."""
        wanted = set(keys)
        self._wait()
        self.pending.update(wanted)
        self.pending.update(ahead)
        if wanted <= self._written:
            self._writer = threading.Thread(target=self._write, args=self._line(),
                                            name="m365bot-journal")
            self._writer.start()
        else:
            self._write(*self._line())
            self._wait()

    def finish(self, results: Iterable[Result]) -> None:
        """Record final results; a successful item is done for good. A failed one with no
        clear answer (503, 504, a lost connection) stays pending: Graph may still apply it
        after the check said it had not, so a rerun checks it again before sending it. The
        results are written by the next :meth:`begin` or by :meth:`close`: until then the
        file still has these items pending, which a rerun checks before it sends them
        again."""
        for r in results:
            if r.ok:
                self.pending.discard(r.item_id)
                entry = {"status": r.status, "new_id": r.new_id, "path": r.path}
                self.done[r.item_id] = self._change.setdefault("done", {})[r.item_id] = entry
            elif r.status not in AMBIGUOUS:
                self.pending.discard(r.item_id)  # a clear refusal: a rerun sends it again
                self._change.setdefault("cleared", []).append(r.item_id)
        self.unsaved = True

    def skipped(self, key: str) -> Result | None:
        """The Result of an item done by an earlier run, or None."""
        entry = self.done.get(key)
        if entry is None:
            return None
        return Result(item_id=key, ok=True, status=int(entry.get("status") or 0),
                      new_id=entry.get("new_id"), path=entry.get("path"), skipped=True)

    def close(self, results: Sequence[Result]) -> None:
        """The job ended: forget it when every item succeeded, else keep it for a rerun."""
        self._wait()
        if all(r.ok for r in results) and not self.pending:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        elif self.unsaved or self.path.exists():
            self.save(whole=True)  # one line again: a rerun reads the state, not its history


# -- the plan of a job -------------------------------------------------------------------------

@dataclass(frozen=True)
class BulkItem:
    """One email's request: ``key`` (the email id, the journal's key), the request, whether
    resending is harmless (``guarded``: PATCHes that set a value), and ``check`` ("was it
    applied?", a plan) for the others."""

    key: str
    method: str
    url: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    guarded: bool = False
    check: Callable[[], Plan[bool]] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class BatchStep:
    """Send these items through ``$batch``; the answer is a list of BatchResult."""

    items: tuple[BulkItem, ...]


@dataclass(frozen=True)
class CheckStep:
    """Run this "was it applied?" plan; the answer is a bool."""

    plan: Plan[bool]


Step = BatchStep | CheckStep
JobPlan = Generator[Step, Any, list[Result]]


def _result(item: BulkItem, answer: BatchResult) -> Result:
    if answer.applied:  # a 429 the engine's check found applied
        return Result(item_id=item.key, ok=True, status=answer.status)
    if answer.status == 0:
        return Result(item_id=item.key, ok=False, status=0, code="NoAnswer",
                      message="no answer came back (the connection was lost or time ran out)")
    return Result.from_graph(item.key, answer.status, answer.body)


def ambiguous(exc: Exception) -> bool:
    """True when a request may have been applied although no success came back."""
    if isinstance(exc, TransportError):
        return True
    return isinstance(exc, GraphError) and exc.status in AMBIGUOUS


def unanswered(items: Sequence[BatchItem], exc: Exception) -> list[BatchResult]:
    """The answers of a ``$batch`` call that got no answer at all: none, for every item
    (each is then checked before it is sent again)."""
    if not ambiguous(exc):
        raise exc
    log.info("a $batch call got no answer (%s); checking its items", type(exc).__name__)
    return [BatchResult(it.id, 0) for it in items]


@dataclass
class BulkJob:
    """A job: its journal and its items, turned into steps by :meth:`plan`."""

    journal: Journal
    items: list[BulkItem]
    progress: Progress | None = None
    results: list[Result] = field(default_factory=list)

    def plan(self) -> JobPlan:
        total = len(self.items)
        todo: list[BulkItem] = []
        by_key: dict[str, Result] = {}
        for item in self.items:
            found = self.journal.skipped(item.key)
            if found is not None:
                by_key[item.key] = found
            else:
                todo.append(item)
        done = len(by_key)
        if self.progress:
            self.progress(done, total)
        if done:
            log.info("bulk job %s: %d of %d items done by an earlier run, skipped",
                     self.journal.job, done, total)
        for start in range(0, len(todo), BATCH_LIMIT):
            chunk = todo[start:start + BATCH_LIMIT]
            ahead = [it.key for it in todo[start + BATCH_LIMIT:start + 2 * BATCH_LIMIT]]
            for r in (yield from self._chunk(chunk, ahead)):
                by_key[r.item_id] = r
            done += len(chunk)
            if self.progress:
                self.progress(done, total)
        self.results = [by_key[item.key] for item in self.items]
        self.journal.close(self.results)
        failed = sum(1 for r in self.results if not r.ok)
        log.info("bulk %s (job %s): %d item(s), %d failed", self.journal.action,
                 self.journal.job, total, failed)
        return self.results

    def _chunk(self, chunk: list[BulkItem], ahead: list[str]
               ) -> Generator[Step, Any, list[Result]]:
        final: dict[str, Result] = {}
        send: list[BulkItem] = []
        for item in chunk:  # pending in a crashed run: ask before sending again
            if item.key in self.journal.resumed and item.check is not None and (
                    yield CheckStep(item.check())):
                final[item.key] = Result(item_id=item.key, ok=True)
            else:
                send.append(item)
        self.journal.begin((it.key for it in send), ahead)
        for n in range(ROUNDS):
            if not send:
                break
            answers: list[BatchResult] = yield BatchStep(tuple(send))
            again = []
            for item, answer in zip(send, answers, strict=True):
                result = _result(item, answer)
                if result.ok or answer.status not in AMBIGUOUS:
                    final[item.key] = result
                elif not item.guarded and item.check is not None and (
                        yield CheckStep(item.check())):  # the last round's answer too
                    final[item.key] = Result(item_id=item.key, ok=True, status=answer.status)
                elif n == ROUNDS - 1:
                    final[item.key] = result  # unclear in every round (checked: not applied)
                else:
                    again.append(item)  # not applied, or the engine retried it already
            send = again
        results = [final[it.key] for it in chunk]
        self.journal.finish(results)
        return results


# -- the drivers -------------------------------------------------------------------------------

def _batch_items(items: Sequence[BulkItem], check: Callable[[BulkItem], Any]) -> list[BatchItem]:
    return [BatchItem(str(i), it.method, it.url, body=it.body, headers=dict(it.headers),
                      guarded=it.guarded,
                      check=None if it.check is None or it.guarded else check(it))
            for i, it in enumerate(items)]


def run_job(session: Session, job: BulkJob) -> list[Result]:
    """Run ``job`` on the session's sync engine; the per-item Results in the items' order."""
    def check(item: BulkItem) -> Callable[[], bool]:
        assert item.check is not None
        make = item.check
        return lambda: run(session, make())

    plan = job.plan()
    try:
        step = next(plan)
        while True:
            if isinstance(step, BatchStep):
                items = _batch_items(step.items, check)
                try:
                    answers = session.graph.batch(items)
                except (GraphError, TransportError) as exc:
                    answers = unanswered(items, exc)
                step = plan.send(answers)
            else:
                step = plan.send(run(session, step.plan))
    except StopIteration as stop:
        results: list[Result] = stop.value
        return results


async def arun_job(session: Session, job: BulkJob) -> list[Result]:
    """The async twin of :func:`run_job`."""
    def check(item: BulkItem) -> Callable[[], Any]:
        assert item.check is not None
        make = item.check

        async def applied() -> bool:
            return await arun(session, make())
        return applied

    plan = job.plan()
    try:
        step = next(plan)
        while True:
            if isinstance(step, BatchStep):
                items = _batch_items(step.items, check)
                try:
                    answers = await session.agraph.batch(items)
                except (GraphError, TransportError) as exc:
                    answers = unanswered(items, exc)
                step = plan.send(answers)
            else:
                step = plan.send(await arun(session, step.plan))
    except StopIteration as stop:
        results: list[Result] = stop.value
        return results


def job_for(session: Session, action: str, items: list[BulkItem], *, job: str | None,
            what: Any, progress: Progress | None) -> BulkJob:
    """The BulkJob of ``items`` with its journal (``job`` given, or derived from ``what``)."""
    name = check_job_id(job) if job is not None else derive_job_id(
        action, session.mailbox, what)
    return BulkJob(Journal.open(session.graph.settings, name, action), items, progress)


def unique(keys: Iterable[str]) -> Iterator[str]:
    """``keys`` without repeats, in order (one email named twice is acted on once)."""
    seen: set[str] = set()
    for k in keys:
        if k not in seen:
            seen.add(k)
            yield k


def with_headers(item: BulkItem, headers: dict[str, str]) -> BulkItem:
    return replace(item, headers={**item.headers, **headers})


__all__ = [
    "AMBIGUOUS",
    "ROUNDS",
    "BatchStep",
    "BulkItem",
    "BulkJob",
    "CheckStep",
    "Journal",
    "Progress",
    "ambiguous",
    "append_synced",
    "arun_job",
    "check_job_id",
    "derive_job_id",
    "job_for",
    "run_job",
    "unanswered",
    "unique",
    "write_private",
]

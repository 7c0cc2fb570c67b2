"""What the emulator was asked and what it answered: request records and counters.

Records never hold bodies, query strings or headers other than the request ids, so no
secret, code or token ends up here.

Two logs, one numbering (``seq``):

* the **request log** keeps the last :data:`MAX_RECORDS` requests of any kind; older ones
  are dropped, and ``counters()["dropped"]`` says how many;
* the **write log** keeps every applied Graph write (a POST, PUT, PATCH or DELETE that was
  carried out, sends and ``$batch`` items included; sign-ins are not writes) for the
  emulator's whole life: it is the ground truth of exactly-once
  checks. ``records()`` and ``sent()`` read both, so an applied write is never forgotten.

Records are stored as tuples (a few hundred bytes each) and become dicts only when asked for.
Filters page through them: ``since`` (a seq: only later records), ``limit``, and
``time_from``/``time_to`` (emulator-clock epoch seconds, inclusive).

Example::

    log.records(op="sendMail", status=202)                 # list of dicts
    log.records(mailbox="alice@contoso.onmicrosoft.com", since=120, limit=100)
    log.counters()["ops"]["token"]                         # how many token requests
"""

from __future__ import annotations

import bisect
import json
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator
from typing import Any

MAX_RECORDS = 20_000
SEND_OPS = frozenset(
    {"sendMail", "messages.send", "messages.reply", "messages.replyAll", "messages.forward"}
)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FIELDS = (
    "op", "method", "path", "host", "role", "cloud", "app_id", "mailbox", "upload_bytes",
    "status", "time", "fault", "throttled", "applied", "request_id", "client_request_id",
    "duration_ms", "seq",
)
_INDEX = {name: i for i, name in enumerate(FIELDS)}
_SEQ, _TIME, _OP, _METHOD, _APPLIED, _ROLE = (
    _INDEX["seq"], _INDEX["time"], _INDEX["op"], _INDEX["method"], _INDEX["applied"],
    _INDEX["role"])
_EXTRA = len(FIELDS)  # a dict of any other keys, or None
PAGING = ("since", "limit", "time_from", "time_to")

Row = tuple[Any, ...]


def _row(record: dict[str, Any]) -> Row:
    extra = {k: v for k, v in record.items() if k not in _INDEX} or None
    return (*(record.get(name) for name in FIELDS), extra)


def _dict(row: Row) -> dict[str, Any]:
    out = dict(zip(FIELDS, row, strict=False))
    if row[_EXTRA]:
        out.update(row[_EXTRA])
    return out


def _is_write(row: Row) -> bool:
    """An applied Graph write (a ``$batch`` counts through its items, sign-ins not at all)."""
    return (bool(row[_APPLIED]) and str(row[_METHOD]).upper() not in _SAFE_METHODS
            and row[_ROLE] in ("graph", "upload") and row[_OP] != "batch")


def _flag(want: Any) -> bool:
    return want if isinstance(want, bool) else str(want).lower() in ("1", "true")


def _predicate(key: str, want: Any) -> Callable[[Row], bool]:
    if key in ("mailbox", "app_id", "host"):
        i, low = _INDEX[key], str(want).lower()
        return lambda r: str(r[i] or "").lower() == low
    if key == "status":
        text = str(want)
        return lambda r: str(r[_INDEX["status"]]) == text
    if key in ("throttled", "applied"):
        i, flag = _INDEX[key], _flag(want)
        return lambda r: bool(r[i]) == flag
    if key == "fault":
        flag = _flag(want)
        return lambda r: bool(r[_INDEX["fault"]]) == flag
    if key in _INDEX:
        i = _INDEX[key]
        return lambda r: r[i] == want
    return lambda r: bool(r[_EXTRA]) and r[_EXTRA].get(key) == want


def json_chunks(name: str, records: list[dict[str, Any]], size: int = 200) -> Iterator[bytes]:
    """``{"count": n, name: [...]}`` encoded a few records at a time, so that a server
    streaming a big log never holds the interpreter for long."""
    yield f'{{"count":{len(records)},"{name}":['.encode()
    for start in range(0, len(records), size):
        part = json.dumps(records[start:start + size], separators=(",", ":"))[1:-1]
        yield (("," if start else "") + part).encode()
    yield b"]}"


class Inspection:
    """The bounded request log, the complete write log, and counters that never roll over.
    Thread-safe."""

    def __init__(self, max_records: int = MAX_RECORDS) -> None:
        self._records: deque[Row] = deque(maxlen=max_records)
        self._writes: list[Row] = []
        self._write_seqs: list[int] = []
        self._dropped = 0
        self._ops: Counter[str] = Counter()
        self._op_status: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()
        self._seq = 0
        self._lock = threading.Lock()

    def add(self, record: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._seq += 1
            record["seq"] = self._seq
            row = _row(record)
            if len(self._records) == self._records.maxlen:
                self._dropped += 1
            self._records.append(row)
            if _is_write(row):
                self._writes.append(row)
                self._write_seqs.append(self._seq)
            op = record.get("op") or "other"
            self._ops[op] += 1
            self._op_status[f"{op} {record.get('status')}"] += 1
            if record.get("fault"):
                self._faults[str(record["fault"]["kind"])] += 1
        return record

    def _candidates(self, since: int, writes_only: bool) -> list[Row]:
        """Rows with seq > ``since`` in seq order: the writes that left the request log,
        then the request log (whose seqs are consecutive)."""
        with self._lock:
            recent = list(self._records)
            oldest = recent[0][_SEQ] if recent else self._seq + 1
            lo = bisect.bisect_right(self._write_seqs, since)
            hi = bisect.bisect_left(self._write_seqs, oldest)
            older = self._writes[lo:hi]
        recent = recent[max(0, since - oldest + 1):]
        if writes_only:
            recent = [r for r in recent if _is_write(r)]
        return older + recent

    def records(self, **filters: Any) -> list[dict[str, Any]]:
        """Records matching every filter (``op``, ``status``, ``method``, ``app_id``,
        ``mailbox``, ``host``, ``role``, ``throttled``, ``applied``, ``fault``) and the paging
        options (``since`` = a seq, ``limit``, ``time_from``, ``time_to``), oldest first."""
        return self._select(filters, writes_only=False)

    def _select(self, filters: dict[str, Any], *, writes_only: bool,
                ops: frozenset[str] | None = None) -> list[dict[str, Any]]:
        since = int(filters.pop("since", None) or 0)
        limit = filters.pop("limit", None)
        t_from, t_to = filters.pop("time_from", None), filters.pop("time_to", None)
        tests = [_predicate(k, v) for k, v in filters.items() if v is not None]
        if ops is not None:
            tests.append(lambda r: r[_OP] in ops)
        low = float("-inf") if t_from is None else float(t_from)
        high = float("inf") if t_to is None else float(t_to)
        if t_from is not None or t_to is not None:
            tests.append(lambda r: r[_TIME] is not None and low <= r[_TIME] <= high)
        out: list[dict[str, Any]] = []
        wanted = None if limit is None else int(limit)
        for row in self._candidates(since, writes_only):
            if wanted is not None and len(out) >= wanted:
                break
            if all(test(row) for test in tests):
                out.append(_dict(row))
        return out

    def counters(self) -> dict[str, Any]:
        with self._lock:
            return {
                "ops": dict(self._ops),
                "op_status": dict(self._op_status),
                "faults": dict(self._faults),
                "total": sum(self._ops.values()),
                "log": {"size": len(self._records), "max": self._records.maxlen,
                        "dropped": self._dropped, "writes": len(self._writes)},
            }

    def sent(self, **filters: Any) -> list[dict[str, Any]]:
        """Send operations the emulator carried out (even when their response was lost),
        all of them since the start or the last :meth:`clear`; same filters as
        :meth:`records`."""
        return self._select({**filters, "applied": True}, writes_only=True, ops=SEND_OPS)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._writes.clear()
            self._write_seqs.clear()
            self._dropped = 0
            self._ops.clear()
            self._op_status.clear()
            self._faults.clear()

"""What the emulator was asked and what it answered: request records and counters.

Records never hold bodies, query strings or headers other than the request ids, so no
secret, code or token ends up here.

Example::

    log.records(op="sendMail", status=202)       # list of dicts
    log.counters()["ops"]["token"]               # how many token requests
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

MAX_RECORDS = 50_000
SEND_OPS = frozenset(
    {"sendMail", "messages.send", "messages.reply", "messages.replyAll", "messages.forward"}
)


class Inspection:
    """A bounded, thread-safe request log plus counters that never roll over."""

    def __init__(self) -> None:
        self._records: list[dict[str, Any]] = []
        self._ops: Counter[str] = Counter()
        self._op_status: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()
        self._seq = 0
        self._lock = threading.Lock()

    def add(self, record: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._seq += 1
            record["seq"] = self._seq
            self._records.append(record)
            if len(self._records) > MAX_RECORDS:
                del self._records[: len(self._records) - MAX_RECORDS]
            op = record.get("op") or "other"
            self._ops[op] += 1
            self._op_status[f"{op} {record.get('status')}"] += 1
            if record.get("fault"):
                self._faults[str(record["fault"]["kind"])] += 1
        return record

    def records(self, **filters: Any) -> list[dict[str, Any]]:
        """Records matching every filter (``op``, ``status``, ``method``, ``app_id``, ``mailbox``,
        ``host``, ``role``, ``throttled``, ``applied``, ``since`` = minimum seq)."""
        since = filters.pop("since", None)
        with self._lock:
            out = [dict(r) for r in self._records]
        if since is not None:
            out = [r for r in out if r["seq"] > int(since)]
        for key, want in filters.items():
            if want is None:
                continue
            if key in ("mailbox", "app_id", "host"):
                out = [r for r in out if str(r.get(key) or "").lower() == str(want).lower()]
            elif key == "status":
                out = [r for r in out if str(r.get("status")) == str(want)]
            elif key in ("throttled", "applied"):
                flag = want if isinstance(want, bool) else str(want).lower() in ("1", "true")
                out = [r for r in out if bool(r.get(key)) == flag]
            elif key == "fault":
                out = [
                    r for r in out if bool(r.get("fault")) == (str(want).lower() in ("1", "true"))
                ]
            else:
                out = [r for r in out if r.get(key) == want]
        return out

    def counters(self) -> dict[str, Any]:
        with self._lock:
            return {
                "ops": dict(self._ops),
                "op_status": dict(self._op_status),
                "faults": dict(self._faults),
                "total": sum(self._ops.values()),
            }

    def sent(self) -> list[dict[str, Any]]:
        """Send operations the emulator carried out (even when their response was lost)."""
        return [r for r in self.records(applied=True) if r.get("op") in SEND_OPS]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._ops.clear()
            self._op_status.clear()
            self._faults.clear()

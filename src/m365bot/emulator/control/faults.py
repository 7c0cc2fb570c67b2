"""Fault rules: make chosen requests fail, hang, drop the connection, or be applied and then
have their response lost or spoiled.

A rule matches by operation name and/or path glob (plus optional method, app, mailbox) and
fires on the ``nth`` matching call or with a ``probability``, at most ``count`` times.

Kinds:

* ``status``: answer ``status`` (429, 500, 503, ...) without running the operation;
* ``reset``: drop the connection without running the operation;
* ``slow``: wait ``delay_ms`` then run the operation normally;
* ``apply_then_status``: run the operation, then answer ``status`` instead (504, 429, or
  202 with Retry-After): the client cannot tell it was done;
* ``apply_then_reset``: run the operation, then drop the connection;
* ``apply_then_slow``: run the operation, then wait ``delay_ms`` before answering.

Example::

    faults.add({"op": "sendMail", "kind": "apply_then_status", "status": 504, "nth": 1})
"""

from __future__ import annotations

import fnmatch
import itertools
import random
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from m365bot.emulator.errors import EmulatorError

KINDS = ("status", "reset", "slow", "apply_then_status", "apply_then_reset", "apply_then_slow")
_FIELDS = (
    "op",
    "path",
    "method",
    "app_id",
    "mailbox",
    "kind",
    "status",
    "retry_after",
    "code",
    "message",
    "delay_ms",
    "probability",
    "nth",
    "count",
    "seed",
    "id",
)


class FaultError(EmulatorError, ValueError):
    """A bad fault rule; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass
class FaultRule:
    id: str
    kind: str
    op: str | None = None
    path: str | None = None
    method: str | None = None
    app_id: str | None = None
    mailbox: str | None = None
    status: int = 503
    retry_after: int | None = None
    code: str | None = None
    message: str | None = None
    delay_ms: float = 0.0
    probability: float | None = None
    nth: int | None = None
    count: int | None = None
    seed: int | None = None
    seen: int = 0
    fired: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    @property
    def applies_first(self) -> bool:
        return self.kind.startswith("apply_then_")

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("_rng", None)
        return data

    def matches(
        self, *, op: str, method: str, path: str, app_id: str | None, mailbox: str | None
    ) -> bool:
        if self.op is not None and not fnmatch.fnmatchcase(op, self.op):
            return False
        if self.path is not None and not fnmatch.fnmatchcase(path, self.path):
            return False
        if self.method is not None and method.upper() != self.method.upper():
            return False
        if self.app_id is not None and (app_id or "").lower() != self.app_id.lower():
            return False
        return self.mailbox is None or (mailbox or "").lower() == self.mailbox.lower()

    def fire(self) -> bool:
        """Count one matching call; True when the rule fires for it."""
        self.seen += 1
        if self.count is not None and self.fired >= self.count:
            return False
        if self.nth is not None:
            hit = self.seen == self.nth if self.count == 1 else self.seen >= self.nth
        else:
            hit = self._rng.random() < (1.0 if self.probability is None else self.probability)
        if hit:
            self.fired += 1
        return hit


def parse_rule(data: Any, rule_id: str) -> FaultRule:
    """Validate a rule from JSON; :class:`FaultError` names the bad field."""
    if not isinstance(data, dict):
        raise FaultError("fault", "expected a JSON object")
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise FaultError(unknown[0], f"unknown field; known fields: {', '.join(_FIELDS)}")
    kind = data.get("kind", "status")
    if kind not in KINDS:
        raise FaultError("kind", f"must be one of {', '.join(KINDS)}")
    if data.get("op") is None and data.get("path") is None:
        raise FaultError("op", "give an operation name (e.g. sendMail) or a path glob (path)")
    for name in ("op", "path", "method", "app_id", "mailbox", "code", "message", "id"):
        if data.get(name) is not None and not isinstance(data[name], str):
            raise FaultError(name, "must be a string")
    status = _int(data, "status", 100, 599)
    if status is None:
        status = 429 if kind == "status" else 504
    nth = _int(data, "nth", 1, 10**9)
    count = _int(data, "count", 0, 10**9)
    probability = data.get("probability")
    if probability is not None and (
        isinstance(probability, bool)
        or not isinstance(probability, int | float)
        or not 0 <= probability <= 1
    ):
        raise FaultError("probability", "must be a number from 0 to 1")
    if nth is not None and probability is not None:
        raise FaultError("nth", "give either nth or probability, not both")
    if nth is not None and count is None:
        count = 1
    delay = data.get("delay_ms", 0)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= 600_000:
        raise FaultError("delay_ms", "must be a number of milliseconds from 0 to 600000")
    if kind.endswith("slow") and not delay:
        raise FaultError("delay_ms", "a slow fault needs delay_ms > 0")
    seed = _int(data, "seed", 0, 2**63)
    rule = FaultRule(
        id=data.get("id") or rule_id,
        kind=kind,
        op=data.get("op"),
        path=data.get("path"),
        method=data.get("method"),
        app_id=data.get("app_id"),
        mailbox=data.get("mailbox"),
        status=status,
        retry_after=_int(data, "retry_after", 0, 86_400),
        code=data.get("code"),
        message=data.get("message"),
        delay_ms=float(delay),
        probability=None if probability is None else float(probability),
        nth=nth,
        count=count,
        seed=seed,
    )
    rule._rng = random.Random(seed)
    return rule


def _int(data: dict[str, Any], name: str, lo: int, hi: int) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise FaultError(name, f"must be a whole number from {lo} to {hi}")
    return value


class Faults:
    """The active fault rules (thread-safe)."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def add(self, data: dict[str, Any]) -> FaultRule:
        """Add a rule from its JSON form; returns it (with its ``id``)."""
        return self.add_all([data], numbered=False)[0]

    def add_all(self, rules: list[Any], *, numbered: bool = True) -> list[FaultRule]:
        """Add every rule, or none: the first bad one raises :class:`FaultError` (its field
        prefixed ``[i].`` when ``numbered``) and nothing is installed."""
        with self._lock:
            parsed = []
            for i, data in enumerate(rules):
                try:
                    parsed.append(parse_rule(data, f"fault-{next(self._ids)}"))
                except FaultError as exc:
                    if not numbered:
                        raise
                    raise FaultError(f"[{i}].{exc.field}", exc.message) from None
            self._rules = [*self._rules, *parsed]
            return parsed

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.public() for r in self._rules]

    def remove(self, rule_id: str | None = None) -> int:
        """Remove one rule, or all with ``None``; returns how many were removed."""
        with self._lock:
            before = len(self._rules)
            self._rules = [] if rule_id is None else [r for r in self._rules if r.id != rule_id]
            return before - len(self._rules)

    def pick(
        self, *, op: str, method: str, path: str, app_id: str | None, mailbox: str | None
    ) -> FaultRule | None:
        """The first rule that fires for this call (every matching rule counts the call)."""
        chosen: FaultRule | None = None
        with self._lock:
            for rule in self._rules:
                if not rule.matches(
                    op=op, method=method, path=path, app_id=app_id, mailbox=mailbox
                ):
                    continue
                if chosen is None:
                    if rule.fire():
                        chosen = rule
                else:
                    rule.seen += 1
        return chosen

"""``--state DIR``: the emulator's world as one JSON file, saved atomically and reloaded at start.

Saves are debounced: a mutation schedules a save at most every ``DEBOUNCE`` seconds, and
:meth:`Persistence.close` saves whatever is pending. Without ``--state`` nothing is written.

Example::

    p = Persistence(Path("/tmp/state"), lambda: emu.state, lambda: emu.clock.offset)
    state = p.load()        # None on first start
    p.touch()               # after a mutation
    p.close()
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from m365bot.emulator import state as state_module
from m365bot.emulator.state import State

log = logging.getLogger(__name__)

STATE_FILE = "emulator-state.json"
FORMAT = 1
DEBOUNCE = 0.5


class PersistError(RuntimeError):
    """The state file cannot be read; the message says which file and what to do."""


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.name != "lock"}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def dump_state(state: State) -> dict[str, Any]:
    """A JSON-ready dict of ``state`` (the lock is left out)."""
    with state.lock:
        data: dict[str, Any] = _plain(state)
        copy: dict[str, Any] = json.loads(json.dumps(data))  # a deep copy, under the lock
        return copy


def _build(tp: Any, value: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _build(inner[0], value)
    if origin is list:
        (arg,) = typing.get_args(tp)
        return [_build(arg, v) for v in value]
    if origin is tuple:
        return tuple(value)
    if origin is dict:
        _, arg = typing.get_args(tp)
        return {k: _build(arg, v) for k, v in value.items()}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        hints = typing.get_type_hints(tp, vars(state_module))
        kwargs = {
            f.name: _build(hints[f.name], value[f.name])
            for f in dataclasses.fields(tp)
            if f.name in value and f.name != "lock"
        }
        return tp(**kwargs)
    return value


def load_state(data: dict[str, Any]) -> State:
    """Rebuild a :class:`State` from :func:`dump_state`'s output."""
    state = _build(State, data)
    assert isinstance(state, State)
    state.mailboxes = {k: state.mailboxes[k] for k in state.mailboxes}
    for box in state.mailboxes.values():
        box.deleted_ids = [tuple(x) for x in box.deleted_ids]  # type: ignore[misc]
    return state


class Persistence:
    """Debounced atomic saves of one emulator's state into ``directory``."""

    def __init__(
        self, directory: Path, get_state: Callable[[], State], get_clock_offset: Callable[[], float]
    ) -> None:
        self.directory = directory
        self.path = directory / STATE_FILE
        self._get_state = get_state
        self._get_offset = get_clock_offset
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._save_lock = threading.Lock()  # close() and a firing timer must not share the tmp file
        self._closed = False

    def load(self) -> tuple[State, float] | None:
        """(state, clock offset) from disk, or None when there is no state file yet."""
        if not self.path.exists():
            return None
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            if raw.get("format") != FORMAT:
                raise ValueError(f"unknown format {raw.get('format')!r}")
            state = load_state(raw["state"])
            offset = float(raw.get("clock_offset", 0.0))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PersistError(
                f"cannot read emulator state {self.path}: {exc}; delete it to start from the "
                "scenario again"
            ) from None
        log.info("loaded emulator state from %s", self.path)
        return state, offset

    def save(self) -> None:
        """Write the state now (atomically: temp file + rename)."""
        with self._save_lock:
            self._save()

    def _save(self) -> None:
        data = {
            "format": FORMAT,
            "clock_offset": self._get_offset(),
            "state": dump_state(self._get_state()),
        }
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, separators=(",", ":"))
        os.replace(tmp, self.path)

    def touch(self) -> None:
        """Note a mutation; a save follows within ``DEBOUNCE`` seconds."""
        with self._lock:
            if self._closed or self._timer is not None:
                return
            self._timer = threading.Timer(DEBOUNCE, self._flush)
            self._timer.daemon = True
            self._timer.start()

    def _flush(self) -> None:
        with self._lock:
            self._timer = None
        try:
            self.save()
        except Exception:
            log.exception("could not save emulator state to %s", self.path)

    def close(self) -> None:
        """Cancel the pending timer and save once more."""
        with self._lock:
            self._closed = True
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        self.save()

"""``--state DIR``: the emulator's world in a SQLite file, saved incrementally.

One row per message and per event, one per mailbox (its folders, grants and tombstones), one
per directory part (tenants, apps, users, sign-in state) and one per outbound mail. A save
writes only what changed since the last one: messages whose change number (``seq``) is newer,
rows that differ, deleted messages. So a save costs what changed, not the size of the world.

One saver thread does all saves, ``DEBOUNCE`` seconds after the first mutation it hears of;
requests never wait for it (it holds ``state.lock`` only while it picks out the changed
items). :meth:`Persistence.close` stops the thread and saves what is pending, so every
acknowledged write is on disk when the emulator exits (SIGTERM included). Without
``--state`` nothing is written. A folder saved by an older version (``emulator-state.json``)
is read once and carried over.

Example::

    p = Persistence(Path("/tmp/state"), lambda: emu.state, lambda: emu.clock.offset)
    state = p.load()        # None on first start
    p.touch()               # after a mutation
    p.close()
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from m365bot.emulator.errors import EmulatorError
from m365bot.emulator.persist_db import StateDB, build, plain
from m365bot.emulator.state import State

log = logging.getLogger(__name__)

STATE_FILE = "emulator-state.sqlite3"
LEGACY_FILE = "emulator-state.json"  # the whole world as one JSON file (format 1)
FORMAT = 2
DEBOUNCE = 0.5


class PersistError(EmulatorError, RuntimeError):
    """The state file cannot be read; the message says which file and what to do."""


def dump_state(state: State) -> dict[str, Any]:
    """A JSON-ready dict of ``state`` (the lock is left out)."""
    with state.lock:
        data: dict[str, Any] = plain(state)
        copy: dict[str, Any] = json.loads(json.dumps(data))  # a deep copy, under the lock
        return copy


def load_state(data: dict[str, Any]) -> State:
    """Rebuild a :class:`State` from :func:`dump_state`'s output."""
    state = build(State, data)
    assert isinstance(state, State)
    state.mailboxes = {k: state.mailboxes[k] for k in state.mailboxes}
    return state


class Persistence:
    """Incremental saves of one emulator's state into ``directory`` by one saver thread."""

    def __init__(
        self, directory: Path, get_state: Callable[[], State], get_clock_offset: Callable[[], float]
    ) -> None:
        self.directory = directory
        self.path = directory / STATE_FILE
        self._get_state = get_state
        self._get_offset = get_clock_offset
        self._db: StateDB | None = None
        self._save_lock = threading.Lock()  # the saver thread and close() take turns
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()

    def load(self) -> tuple[State, float] | None:
        """(state, clock offset) from disk, or None when nothing was saved yet."""
        try:
            if self.path.exists():
                db = self._open()
                loaded = db.load()
                if loaded is None:
                    raise ValueError("the file holds no saved state")
                log.info("loaded emulator state from %s", self.path)
                return loaded
            legacy = self.directory / LEGACY_FILE
            if legacy.exists():
                return self._load_legacy(legacy)
        except (OSError, ValueError, KeyError, TypeError, sqlite3.Error) as exc:
            bad = self.path if self.path.exists() else self.directory / LEGACY_FILE
            raise PersistError(
                f"cannot read emulator state {bad}: {exc}; delete it to start from the "
                "scenario again"
            ) from None
        return None

    def _load_legacy(self, legacy: Path) -> tuple[State, float]:
        raw = json.loads(legacy.read_text(encoding="utf-8"))
        if raw.get("format") != 1:
            raise ValueError(f"unknown format {raw.get('format')!r}")
        log.info("loaded emulator state from %s (saved next as %s)", legacy, STATE_FILE)
        return load_state(raw["state"]), float(raw.get("clock_offset", 0.0))

    def _open(self) -> StateDB:
        if self._db is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._db = StateDB(self.path)
        return self._db

    def save(self) -> None:
        """Write what changed since the last save, now."""
        with self._save_lock:
            self._open().save(self._get_state(), self._get_offset())

    def touch(self) -> None:
        """Note a mutation; the saver thread writes it within ``DEBOUNCE`` seconds."""
        if self._closing.is_set():
            return
        if self._thread is None:
            with self._thread_lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="m365bot-emulator-saver", daemon=True)
                    self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while not self._closing.is_set():
            self._wake.wait()
            if self._closing.wait(DEBOUNCE):
                return  # close() saves what is pending
            self._wake.clear()
            try:
                self.save()
            except Exception:
                log.exception("could not save emulator state to %s", self.path)

    def close(self) -> None:
        """Stop the saver thread, save what is pending, close the file."""
        self._closing.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join()
        self.save()
        with self._save_lock:
            if self._db is not None:
                self._db.close()
                self._db = None

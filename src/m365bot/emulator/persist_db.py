"""The SQLite file behind ``--state DIR`` (see :mod:`.persist`): rows, and the diff that
decides which rows a save writes.

Tables: ``parts(key, json)`` holds the clock offset, the change counter, each directory part
(``tenants``, ``apps``, ...) and each mailbox without its items (``mailbox:<address>``);
``items(mailbox, kind, id, json)`` holds messages and events; ``outbound(n, json)`` the
outbound log, append-only. The file runs in WAL mode, so a save is one short transaction.

Example::

    db = StateDB(Path("/tmp/state/emulator-state.sqlite3"))
    db.save(state, clock_offset=0.0)    # writes only what changed since the last save
    state, offset = db.load()
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import types
import typing
from pathlib import Path
from typing import Any

from m365bot.emulator import state as state_module
from m365bot.emulator.state import Event, Mailbox, Message, MessageMap, State

_DIRECTORY_PARTS = ("tenants", "apps", "users", "auth_codes", "refresh_tokens", "user_consents")
_ITEM_FIELDS = ("messages", "events")
_SCHEMA = """
create table if not exists parts (key text primary key, json text not null);
create table if not exists items (mailbox text not null, kind text not null, id text not null,
                                  json text not null, primary key (mailbox, kind, id));
create table if not exists outbound (n integer primary key, json text not null);
"""
# Upserts keep a row's rowid, so loading in rowid order gives back the original order.
_UPSERT_PART = ("insert into parts values (?, ?) on conflict (key) "
                "do update set json = excluded.json")
_UPSERT_ITEM = ("insert into items values (?, ?, ?, ?) on conflict (mailbox, kind, id) "
                "do update set json = excluded.json")
_NOT_SAVED = frozenset({"lock", "home"})  # State.lock, Message.home (its MessageMap)
_hints: dict[type, dict[str, Any]] = {}


def plain(value: Any) -> Any:
    """A JSON-ready copy of a state dataclass (its ``lock`` left out)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.name not in _NOT_SAVED}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def build(tp: Any, value: Any) -> Any:
    """Rebuild a value of type ``tp`` (a state dataclass, or a container of them)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return build(inner[0], value)
    if origin is list:
        (arg,) = typing.get_args(tp)
        return [build(arg, v) for v in value]
    if origin is tuple:
        return tuple(value)
    if origin is dict:
        _, arg = typing.get_args(tp)
        return {k: build(arg, v) for k, v in value.items()}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if tp not in _hints:
            _hints[tp] = typing.get_type_hints(tp, vars(state_module))
        hints = _hints[tp]
        kwargs = {
            f.name: build(hints[f.name], value[f.name])
            for f in dataclasses.fields(tp)
            if f.name in value and f.name not in _NOT_SAVED
        }
        return tp(**kwargs)
    return value


def _dumps(value: Any) -> str:
    return json.dumps(plain(value), separators=(",", ":"))


def _mailbox_row(box: Mailbox) -> str:
    return json.dumps({f.name: plain(getattr(box, f.name)) for f in dataclasses.fields(box)
                       if f.name not in _ITEM_FIELDS}, separators=(",", ":"))


class StateDB:
    """One state file; :meth:`save` remembers what it wrote to write only changes next time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("pragma journal_mode=wal")
        self._conn.execute("pragma synchronous=normal")
        self._conn.executescript(_SCHEMA)
        self._forget()

    def _forget(self) -> None:
        self._state: State | None = None
        self._seq = -1
        self._parts: dict[str, str] = {}
        self._messages: dict[str, set[str]] = {}
        self._events: dict[str, dict[str, str]] = {}
        self._outbound = 0

    # -- saving ------------------------------------------------------------------------------

    def save(self, state: State, clock_offset: float) -> None:
        """Write what changed since the last save (everything the first time, or after the
        world was replaced by a reset)."""
        with state.lock:
            if state is not self._state:
                self._forget()
            parts = {"clock_offset": json.dumps(clock_offset), "seq": str(state.seq)}
            for name in _DIRECTORY_PARTS:
                parts[name] = _dumps(getattr(state, name))
            upserts: list[tuple[str, str, str, str]] = []
            deletes: list[tuple[str, str, str]] = []
            messages: dict[str, set[str]] = {}
            events: dict[str, dict[str, str]] = {}
            for address, box in state.mailboxes.items():
                parts["mailbox:" + address] = _mailbox_row(box)
                saved = self._messages.get(address, set())
                for mid, msg in box.messages.items():
                    if msg.seq > self._seq or mid not in saved:
                        upserts.append((address, "message", mid, _dumps(msg)))
                ids = set(box.messages)
                deletes += [(address, "message", mid) for mid in saved - ids]
                messages[address] = ids
                old_events = self._events.get(address, {})
                events[address] = {eid: _dumps(ev) for eid, ev in box.events.items()}
                upserts += [(address, "event", eid, text) for eid, text in events[address].items()
                            if old_events.get(eid) != text]
                deletes += [(address, "event", eid) for eid in old_events
                            if eid not in events[address]]
            gone = [k for k in self._parts if k.startswith("mailbox:") and k not in parts]
            for key in gone:
                address = key.removeprefix("mailbox:")
                deletes += [(address, "message", mid) for mid in self._messages.get(address, ())]
                deletes += [(address, "event", eid) for eid in self._events.get(address, {})]
            outbound = [json.dumps(m) for m in state.outbound[self._outbound:]]
            seq = state.seq
        changed = [(k, v) for k, v in parts.items() if self._parts.get(k) != v]
        full = self._state is None
        with self._conn:
            self._conn.execute("begin")
            if full:
                self._conn.execute("delete from parts")
                self._conn.execute("delete from items")
                self._conn.execute("delete from outbound")
            self._conn.executemany(_UPSERT_PART, changed)
            self._conn.executemany("delete from parts where key = ?", [(k,) for k in gone])
            self._conn.executemany(_UPSERT_ITEM, upserts)
            self._conn.executemany(
                "delete from items where mailbox = ? and kind = ? and id = ?", deletes)
            self._conn.executemany(
                "insert into outbound values (?, ?)",
                [(self._outbound + i, text) for i, text in enumerate(outbound)])
        self._state = state
        self._seq = seq
        self._parts = parts
        self._messages = messages
        self._events = events
        self._outbound += len(outbound)

    # -- loading -----------------------------------------------------------------------------

    def load(self) -> tuple[State, float] | None:
        """(state, clock offset), or None for an empty file."""
        rows = dict(self._conn.execute("select key, json from parts order by rowid"))
        if "seq" not in rows:
            return None
        hints = typing.get_type_hints(State, vars(state_module))
        state = State(**{name: build(hints[name], json.loads(rows[name]))
                         for name in _DIRECTORY_PARTS})
        state.seq = int(rows["seq"])
        for key, text in rows.items():
            if key.startswith("mailbox:"):
                box = build(Mailbox, json.loads(text))
                state.mailboxes[key.removeprefix("mailbox:")] = box
        for address, kind, iid, text in self._conn.execute(
                "select mailbox, kind, id, json from items order by rowid"):
            box = state.mailboxes[address]
            if kind == "message":
                messages = box.messages
                assert isinstance(messages, MessageMap)
                messages.restore(iid, build(Message, json.loads(text)))
            else:
                box.events[iid] = build(Event, json.loads(text))
        state.outbound = [json.loads(text) for (text,) in
                          self._conn.execute("select json from outbound order by n")]
        return state, float(json.loads(rows["clock_offset"]))

    def close(self) -> None:
        """Fold the write-ahead log into the file, and close it."""
        self._conn.execute("pragma wal_checkpoint(truncate)")
        self._conn.close()

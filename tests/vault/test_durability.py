"""SQLite durability: synchronous=FULL on every connection, and a writer killed at any
point leaves the old or the new value with integrity_check ok."""

from __future__ import annotations

import base64
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from m365bot.vault import AttributeSpec, Vault

WRITER = Path(__file__).with_name("writer.py")


def test_sqlite_runs_wal_with_synchronous_full(vault: Vault) -> None:
    settings = vault.storage_settings()
    assert settings["dialect"] == "sqlite"
    assert settings["journal_mode"] == "wal"
    assert settings["synchronous"] == "2"  # FULL
    assert int(settings["busy_timeout"]) >= 5000
    assert settings["foreign_keys"] == "1"


@pytest.mark.slow
def test_sigkill_during_writes_leaves_old_or_new_value(
    vault: Vault, vault_path: Path, raw_key: bytes
) -> None:
    vault.create_locker("bots")
    vault.set_credential("bots", "c", {"a": AttributeSpec("CANARY-kill-0"),
                                       "b": AttributeSpec("CANARY-kill-0")})
    vault.put_blob("token_cache", "k", b"CANARY-kill-0")
    vault.close()
    rng = random.Random(os.getpid())
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    last = 0
    previous = {"a": 0, "b": 0, "blob": 0}
    for _round in range(20):
        start = last + 1000  # values of this round are distinct from every earlier one
        proc = subprocess.Popen(
            [sys.executable, str(WRITER), str(vault_path),
             base64.b64encode(raw_key).decode(), str(start)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read() if proc.stderr else ""
        # Once its first round of writes is committed the writer is in its loop: a kill
        # after a random pause lands in the middle of some later write.
        first = proc.stdout.readline()
        time.sleep(rng.uniform(0.0, 0.25))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        printed = [int(x) for x in (first + proc.stdout.read()).split()]
        proc.stdout.close()
        assert proc.stderr is not None
        proc.stderr.close()
        committed = printed[-1] if printed else None
        # closing(): sqlite3's own context manager commits but leaves the connection open,
        # and a connection left open across other processes' WAL resets fails with
        # "disk I/O error".
        with closing(sqlite3.connect(vault_path)) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        with Vault.open(vault_path, actor="alice") as v:
            v.unlock(key=raw_key)
            got = {name: v.get("bots", "c", name).reveal() for name in ("a", "b")}
            blob = v.get_blob("token_cache", "k")
        assert blob is not None
        seen = dict(zip(("a", "b", "blob"),
                        (int(x.rsplit("-", 1)[1]) for x in (*got.values(), blob.decode())),
                        strict=True))
        # Old or new: each value is its last confirmed write or the one that was in flight.
        for name, n in seen.items():
            allowed = {committed, committed + 1} if committed is not None else {
                previous[name], start + 1}
            assert n in allowed, (name, n, committed, previous)
        previous = seen
        last = max(seen.values())

"""Concurrent writers in separate processes, on SQLite and on a real PostgreSQL server:
every acknowledged compare-and-set survives, and a lost race is a BlobConflict, never a
database error."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from m365bot.vault import Vault

pytestmark = pytest.mark.slow  # multi-process

RACER = Path(__file__).with_name("racer.py")
PROCESSES = 4


def _race(location: str, key: bytes, tmp_path: Path, mode: str,
          args: list[str]) -> list[str]:
    """Start one racer per arg, release them together, return every line they printed."""
    start = tmp_path / f"start-{mode}"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    procs = [subprocess.Popen(
        [sys.executable, str(RACER), location, base64.b64encode(key).decode(), str(start),
         mode, arg], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for arg in args]
    time.sleep(1.0)  # let every process open and unlock first
    start.touch()
    lines: list[str] = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        lines += out.splitlines()
    return lines


def _location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "v.db")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(params=["sqlite", "postgresql"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, bytes]:
    """A vault location on each database, initialized with a random key."""
    location, key = _location(request, tmp_path), os.urandom(32)
    with Vault.open(location, actor="alice") as v:
        v.initialize(key=key)
        v.create_locker("bots")
    return location, key


def test_concurrent_compare_and_set_increments_are_never_lost(
        shared: tuple[str, bytes], tmp_path: Path) -> None:
    location, key = shared
    increments = 25
    lines = _race(location, key, tmp_path, "increments", [str(increments)] * PROCESSES)
    assert lines.count("ok") == PROCESSES * increments
    with Vault.open(location, actor="alice") as v:
        v.unlock(key=key)
        assert v.get_blob_with_version("counter", "n") == (
            str(PROCESSES * increments).encode(), PROCESSES * increments)


def test_concurrent_first_writes_one_wins_the_others_get_a_conflict(
        shared: tuple[str, bytes], tmp_path: Path) -> None:
    location, key = shared
    lines = _race(location, key, tmp_path, "first-blob", [str(i) for i in range(PROCESSES)])
    winners = [line.split()[1] for line in lines if line.startswith("ok")]
    conflicts = [line for line in lines if line.startswith("conflict")]
    assert len(winners) == 1 and len(conflicts) == PROCESSES - 1
    assert all("is at version 1, not 0" in line for line in conflicts)
    with Vault.open(location, actor="alice") as v:
        v.unlock(key=key)
        assert v.get_blob_with_version("first", "k") == (
            f"CANARY-first-{winners[0]}".encode(), 1)


def test_concurrent_first_writes_of_one_new_credential_all_land(
        shared: tuple[str, bytes], tmp_path: Path) -> None:
    location, key = shared
    lines = _race(location, key, tmp_path, "first-cred", [str(i) for i in range(PROCESSES)])
    assert sorted(lines) == [f"ok {i}" for i in range(PROCESSES)]
    with Vault.open(location, actor="alice") as v:
        v.unlock(key=key)
        for i in range(PROCESSES):
            assert v.get("bots", "new-cred", f"a{i}").reveal() == f"CANARY-c-{i}"
        assert [c.name for c in v.list_credentials("bots")] == ["new-cred"]

"""Test-wide setup and the fixtures that several folders share. tests/README.md lists every
fixture and where it lives.

The emulator fixtures ``emulator``, ``emulator_info``, ``emulator_data_dir`` and
``fresh_emulator`` come from m365bot's own pytest plugin (m365bot.emulator.pytest_plugin),
which users get too. The fixtures below build on them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from m365bot.bots.run import BotRun
from m365bot.config import Settings
from m365bot.emulator.runtime import Emulator
from m365bot.vault import Vault, new_raw_key
from world_support import settings_for, stock_demo_apps

pytest_plugins = ["plugins.canary", "plugins.graph_schema"]


def _wait_until_idle(emulator: Emulator, timeout: float = 10.0) -> None:
    """Let requests an earlier test abandoned (a client timeout on a slow answer) finish on the
    server: they still hold throttling slots of the shared emulator's mailboxes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        buckets = emulator.control.counters()["throttle"].values()
        if all(b["in_flight"] == 0 for b in buckets):
            return
        time.sleep(0.05)


def _reset(emulator: Emulator) -> None:
    emulator.control.clear_faults()
    _wait_until_idle(emulator)
    emulator.control.clear()
    emulator.clock.reset()
    emulator.settings.update({"refresh_token_policy": "entra"})


@pytest.fixture
def clean_emulator(emulator: Emulator) -> Iterator[Emulator]:
    """The session emulator with its faults, records, clock and refresh-token policy reset
    before and after the test (after any request an earlier test abandoned has finished), and
    its latency and throttling settings put back afterwards."""
    before = emulator.control.configure()
    _reset(emulator)
    yield emulator
    emulator.control.configure(latency_ms=before["latency_ms"], throttling=before["throttling"])
    _reset(emulator)


@pytest.fixture
def vault_key() -> str:
    """A random raw key (fast; the passphrase tests use scrypt explicitly)."""
    return new_raw_key()


@pytest.fixture
def vault_path(tmp_path: Path) -> Path:
    """Where ``vault`` lives: tmp_path/vault.db."""
    return tmp_path / "vault.db"


@pytest.fixture
def vault_actor() -> str:
    """Who ``vault`` acts as: "bot" (tests/vault/ sets "alice")."""
    return "bot"


@pytest.fixture
def vault(vault_path: Path, vault_key: str, vault_actor: str) -> Iterator[Vault]:
    """An empty vault at ``vault_path``, unlocked with ``vault_key``, acting as ``vault_actor``."""
    v = Vault.open(vault_path, actor=vault_actor)
    v.initialize(key=vault_key)
    yield v
    v.close()


@pytest.fixture
def demo_vault(vault: Vault, emulator_info: dict[str, Any]) -> Vault:
    """``vault`` holding locker "bots" with credential o365-CLOUD (each cloud's demo app)."""
    stock_demo_apps(vault, emulator_info)
    return vault


@pytest.fixture
def settings(clean_emulator: Emulator, tmp_path: Path) -> Settings:
    """Settings that reach ``clean_emulator`` through its proxy, with tmp_path/home as data
    folder."""
    return settings_for(clean_emulator, tmp_path)


@pytest.fixture
def bot_run(tmp_path: Path) -> Iterator[BotRun]:
    """A bot run of the test's own (own Global session registry under tmp_path/run)."""
    run = BotRun(tmp_path / "run")
    BotRun.set_current(run)
    yield run
    BotRun.set_current(None)

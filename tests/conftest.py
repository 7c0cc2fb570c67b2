"""Test-wide setup and the fixtures that several folders share. tests/README.md lists every
fixture and where it lives.

The emulator fixtures ``emulator``, ``emulator_info``, ``emulator_data_dir`` and
``fresh_emulator`` come from m365bot's own pytest plugin (m365bot.emulator.pytest_plugin),
which users get too. The fixtures below build on them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from m365bot.bots.run import BotRun
from m365bot.config import Settings
from m365bot.emulator.runtime import Emulator
from m365bot.vault import Vault, new_raw_key

pytest_plugins = ["plugins.canary", "plugins.graph_schema"]


def _reset(emulator: Emulator) -> None:
    emulator.control.clear()
    emulator.clock.reset()
    emulator.settings.update({"refresh_token_policy": "entra"})


@pytest.fixture
def clean_emulator(emulator: Emulator) -> Iterator[Emulator]:
    """The session emulator with its records, faults, settings and clock reset before and
    after the test."""
    _reset(emulator)
    yield emulator
    _reset(emulator)


@pytest.fixture
def emu(clean_emulator: Emulator) -> Emulator:
    """Old name of ``clean_emulator``, kept until the tests still using it are renamed."""
    return clean_emulator


@pytest.fixture
def vault_key() -> str:
    """A random raw key (fast; the passphrase tests use scrypt explicitly)."""
    return new_raw_key()


@pytest.fixture
def vault(tmp_path: Path, vault_key: str) -> Iterator[Vault]:
    """An empty vault at tmp_path/vault.db, unlocked with ``vault_key``, acting as "bot"."""
    v = Vault.open(tmp_path / "vault.db", actor="bot")
    v.initialize(key=vault_key)
    yield v
    v.close()


@pytest.fixture
def settings(clean_emulator: Emulator, tmp_path: Path) -> Settings:
    """Settings that reach the emulator through its proxy, with tmp_path/home as data folder."""
    info: dict[str, Any] = clean_emulator.info
    return Settings(data_dir=tmp_path / "home", proxy=info["proxy_url"],
                    ca_bundle=info["ca_bundle"], timeout=20)


@pytest.fixture
def bot_run(tmp_path: Path) -> Iterator[BotRun]:
    """A bot run of the test's own (own Global session registry under tmp_path/run)."""
    run = BotRun(tmp_path / "run")
    BotRun.set_current(run)
    yield run
    BotRun.set_current(None)

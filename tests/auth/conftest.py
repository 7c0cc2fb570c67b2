"""Fixtures for the auth tests: a fresh unlocked vault and data folder per test, and the
session emulator in a clean state (records, faults, settings, clock)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from m365bot.config import Settings
from m365bot.vault import Vault, new_raw_key


@pytest.fixture
def emu(emulator: Any) -> Iterator[Any]:
    emulator.control.clear()
    emulator.clock.reset()
    emulator.settings.update({"refresh_token_policy": "entra"})
    yield emulator
    emulator.control.clear()
    emulator.clock.reset()
    emulator.settings.update({"refresh_token_policy": "entra"})


@pytest.fixture
def vault_key() -> str:
    return new_raw_key()


@pytest.fixture
def vault(tmp_path: Path, vault_key: str) -> Iterator[Vault]:
    v = Vault.open(tmp_path / "vault.db", actor="bot")
    v.initialize(key=vault_key)
    yield v
    v.close()


@pytest.fixture
def settings(emu: Any, tmp_path: Path) -> Settings:
    info = emu.info
    return Settings(data_dir=tmp_path / "home", proxy=info["proxy_url"],
                    ca_bundle=info["ca_bundle"], timeout=20)

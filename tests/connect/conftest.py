"""Fixtures for the Connect / sessions tests: the shared vault stocked with each cloud's demo
app credentials, and a bot run (Global session registry) of its own per test. The clean
emulator, vault key and settings come from tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from m365bot.bots.run import BotRun
from m365bot.vault import Vault
from world_support import stock_demo_apps


@pytest.fixture
def vault(vault: Vault, emulator_info: dict[str, Any]) -> Vault:
    """tests/conftest.py's vault holding locker "bots" with credential o365-CLOUD per cloud."""
    stock_demo_apps(vault, emulator_info)
    return vault


@pytest.fixture(autouse=True)
def bot_run(tmp_path: Path) -> Iterator[BotRun]:
    """Each test is its own bot run (own Global registry directory)."""
    run = BotRun(tmp_path / "run")
    BotRun.set_current(run)
    yield run
    BotRun.set_current(None)

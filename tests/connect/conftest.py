"""Fixtures for the Connect / sessions tests: tests/conftest.py's vault stocked with each
cloud's demo app credentials, and tests/conftest.py's bot run used by every test."""

from __future__ import annotations

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
def bot_run(bot_run: BotRun) -> BotRun:
    """Every test here is its own bot run (tests/conftest.py's bot_run, used automatically)."""
    return bot_run

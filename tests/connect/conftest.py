"""Fixtures for the Connect / sessions tests: tests/conftest.py's bot run, used by every
test. The vault stocked with each cloud's demo app (``demo_vault``), the clean emulator and
the settings come from tests/conftest.py."""

from __future__ import annotations

import pytest

from m365bot.bots.run import BotRun


@pytest.fixture(autouse=True)
def bot_run(bot_run: BotRun) -> BotRun:
    """Every test here is its own bot run (tests/conftest.py's bot_run, used automatically)."""
    return bot_run

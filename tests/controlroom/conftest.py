"""Fixtures for the Control Room tests: every test is its own bot run. The clean emulator,
vault, vault key and settings come from tests/conftest.py."""

from __future__ import annotations

import pytest

from m365bot.bots.run import BotRun


@pytest.fixture(autouse=True)
def bot_run(bot_run: BotRun) -> BotRun:
    """Every test here is its own bot run (tests/conftest.py's bot_run, used automatically)."""
    return bot_run

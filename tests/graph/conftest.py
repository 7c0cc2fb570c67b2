"""Fixtures for the Graph engine's tests: every test is its own bot run, and ``session`` is a
client-credentials session on the ops mailbox. The clean emulator (faults, records, clock,
throttling and latency settings reset around each test) and the proxy-mode settings come from
tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from graph_support import OPS, connect

from m365bot.bots.run import BotRun
from m365bot.config import Settings
from m365bot.sessions import Session


@pytest.fixture(autouse=True)
def bot_run(bot_run: BotRun) -> BotRun:
    """Every test here is its own bot run (tests/conftest.py's bot_run, used automatically)."""
    return bot_run


@pytest.fixture
def session(clean_emulator: Any, settings: Settings) -> Iterator[Session]:
    """A client-credentials session on the ops mailbox; Connect's own check request is cleared
    from the emulator's records."""
    s = connect(clean_emulator, settings)
    clean_emulator.control.clear()  # Connect's own check request is not part of the test
    assert s.mailbox == OPS
    yield s
    s.close()

"""Fixtures for the emulator tests that need a world of their own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from m365bot.emulator.runtime import Emulator


@pytest.fixture(scope="module")
def emu(emulator_data_dir: Path) -> Iterator[Emulator]:
    """A demo-scenario emulator private to one test module (for tests that change faults,
    throttling or settings, which the session ``emulator`` must not see)."""
    with Emulator.start(scenario="demo", data_dir=emulator_data_dir) as e:
        yield e

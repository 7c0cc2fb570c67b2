"""Fixtures for the emulator tests that need a world of their own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from m365bot.emulator.runtime import Emulator


@pytest.fixture(scope="module")
def private_emulator(emulator_data_dir: Path) -> Iterator[Emulator]:
    """A demo-scenario emulator private to one test module (for tests that change faults,
    throttling or settings, which the session ``emulator`` must not see)."""
    with Emulator.start(scenario="demo", data_dir=emulator_data_dir) as e:
        yield e


@pytest.fixture(scope="module")
def emu(private_emulator: Emulator) -> Emulator:
    """Old name of ``private_emulator`` in this folder, kept until the tests still using it are
    renamed (tests/conftest.py's ``emu`` means ``clean_emulator`` elsewhere)."""
    return private_emulator

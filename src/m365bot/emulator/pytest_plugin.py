"""pytest fixtures for the emulator (auto-loaded through the ``pytest11`` entry point).

* ``emulator`` (session): one emulator with the demo scenario, HTTPS + proxy on free ports;
* ``emulator_info``: its info dict (same as the info file);
* ``fresh_emulator`` (function): a separate emulator with a pristine demo world, sharing the
  session's data folder (CA, certificates) so it starts fast.

Example::

    def test_token(emulator_info):
        app = emulator_info["apps"][0]
        ...

    def test_sends_once(emulator):
        emulator.reset()
        assert emulator.control.count("sendMail") == 0

The plugin loads with m365bot alone, so pytest keeps working for a bot runner without the
``m365bot[emulator]`` extra; a test that asks for an emulator fixture then fails with the
``pip install`` line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from m365bot.emulator.runtime import Emulator


@pytest.fixture(scope="session")
def emulator_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data folder (CA, server and app certificates) shared by this session's emulators."""
    return tmp_path_factory.mktemp("m365bot-emulator")


@pytest.fixture(scope="session")
def emulator(emulator_data_dir: Path) -> Iterator[Emulator]:
    """A demo-scenario emulator for the whole session."""
    from m365bot.emulator import Emulator

    with Emulator.start(scenario="demo", data_dir=emulator_data_dir) as emu:
        yield emu


@pytest.fixture(scope="session")
def emulator_info(emulator: Emulator) -> dict[str, Any]:
    """``emulator.info``: ports, proxy URL, CA bundle, tenants, apps, users."""
    return emulator.info


@pytest.fixture
def fresh_emulator(emulator_data_dir: Path) -> Iterator[Emulator]:
    """An emulator of its own for one test, in the demo scenario's initial state."""
    from m365bot.emulator import Emulator

    with Emulator.start(scenario="demo", data_dir=emulator_data_dir) as emu:
        yield emu

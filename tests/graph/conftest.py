"""Fixtures for the Graph engine's tests: the shared emulator cleaned around each test
(faults, records, clock, throttling and latency settings), proxy-mode settings, a bot run of
its own, and a client-credentials session on the ops mailbox."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from graph_support import OPS, connect

from m365bot.bots.run import BotRun
from m365bot.config import Settings
from m365bot.sessions import Session


def _wait_until_idle(emulator: Any, timeout: float = 10.0) -> None:
    """Let requests an earlier test abandoned (a client timeout on a slow answer) finish on the
    server: they still hold throttling slots of the shared emulator's mailboxes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        buckets = emulator.control.counters()["throttle"].values()
        if all(b["in_flight"] == 0 for b in buckets):
            return
        time.sleep(0.05)


@pytest.fixture
def emu(emulator: Any) -> Iterator[Any]:
    before = emulator.control.configure()
    emulator.control.clear_faults()
    _wait_until_idle(emulator)
    emulator.control.clear()
    emulator.clock.reset()
    yield emulator
    emulator.control.configure(latency_ms=before["latency_ms"],
                               throttling=before["throttling"])
    emulator.control.clear()
    emulator.clock.reset()


@pytest.fixture
def settings(emu: Any, tmp_path: Path) -> Settings:
    info = emu.info
    return Settings(data_dir=tmp_path / "home", proxy=info["proxy_url"],
                    ca_bundle=info["ca_bundle"], timeout=20)


@pytest.fixture(autouse=True)
def bot_run(tmp_path: Path) -> Iterator[BotRun]:
    run = BotRun(tmp_path / "run")
    BotRun.set_current(run)
    yield run
    BotRun.set_current(None)


@pytest.fixture
def session(emu: Any, settings: Settings) -> Iterator[Session]:
    s = connect(emu, settings)
    emu.control.clear()  # Connect's own check request is not part of the test
    assert s.mailbox == OPS
    yield s
    s.close()

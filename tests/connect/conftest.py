"""Fixtures for the Connect / sessions / Control Room tests: a clean session emulator, an
unlocked vault on disk holding each cloud's demo app credentials, proxy-mode settings, and a
bot run (Global session registry) of its own per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from connect_support import CLOUD_KEY, app, secret_of

from m365bot.bots.run import BotRun
from m365bot.config import Settings
from m365bot.vault import AttributeSpec, Vault, new_raw_key


@pytest.fixture
def emu(emulator: Any) -> Iterator[Any]:
    emulator.control.clear()
    emulator.clock.reset()
    yield emulator
    emulator.control.clear()
    emulator.clock.reset()


@pytest.fixture
def vault_key() -> str:
    return new_raw_key()


@pytest.fixture
def vault(tmp_path: Path, vault_key: str, emulator_info: dict[str, Any]) -> Iterator[Vault]:
    v = Vault.open(tmp_path / "vault.db", actor="bot")
    v.initialize(key=vault_key)
    v.create_locker("bots")
    for cloud in CLOUD_KEY:
        a = app(emulator_info, cloud=cloud)
        v.set_credential("bots", f"o365-{cloud}", {
            "client_secret": AttributeSpec(secret_of(a)),
            "client_id": AttributeSpec(a["client_id"], masked=False),
            "tenant_id": AttributeSpec(a["tenant_id"], masked=False)})
    yield v
    v.close()


@pytest.fixture
def settings(emu: Any, tmp_path: Path) -> Settings:
    info = emu.info
    return Settings(data_dir=tmp_path / "home", proxy=info["proxy_url"],
                    ca_bundle=info["ca_bundle"], timeout=20)


@pytest.fixture(autouse=True)
def bot_run(tmp_path: Path) -> Iterator[BotRun]:
    """Each test is its own bot run (own Global registry directory)."""
    run = BotRun(tmp_path / "run")
    BotRun.set_current(run)
    yield run
    BotRun.set_current(None)

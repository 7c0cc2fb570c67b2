"""Shared fixtures and lookups for the Connect / sessions / Control Room tests (imported by
those test modules): a clean session emulator, an unlocked vault on disk, proxy-mode settings,
and the demo world's apps and users."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from m365bot.config import Settings
from m365bot.sessions import BotRun
from m365bot.vault import AttributeSpec, Vault, new_raw_key
from plugins.canary import register_canary

CLOUD_KEY = {"global": "global", "usgovhigh": "gcchigh", "dod": "dod", "china": "china"}


def tenant(info: dict[str, Any], cloud: str = "global") -> dict[str, Any]:
    return next(t for t in info["tenants"] if t["cloud"] == cloud)


def app(info: dict[str, Any], name: str = "m365bot-demo", cloud: str = "global") -> dict[str, Any]:
    tid = tenant(info, cloud)["id"]
    return next(a for a in info["apps"] if a["tenant_id"] == tid and a["name"] == name)


def user(info: dict[str, Any], name: str, cloud: str = "global") -> dict[str, Any]:
    tid = tenant(info, cloud)["id"]
    return next(u for u in info["users"] if u["tenant_id"] == tid and u["upn"].startswith(name))


def secret_of(app_info: dict[str, Any]) -> str:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    value = next(s for s in app_info["secrets"] if s["expires"] > now)["value"]
    return register_canary(value)  # the demo secret must never be logged or printed


def graph_requests(emu: Any) -> list[dict[str, Any]]:
    return [r for r in emu.control.requests() if r.get("role") == "graph"]


def login_requests(emu: Any) -> list[dict[str, Any]]:
    return [r for r in emu.control.requests() if r.get("role") == "login"]


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

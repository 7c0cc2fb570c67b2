"""Vault fixtures. ``vault`` and ``vault_key`` come from tests/conftest.py (a fresh vault per
test, unlocked with a random raw key); here it acts as "alice" and lives in a data folder of
its own. Test values start with ``CANARY-`` so the canary plugin can scan every output of the
run for them."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from vault_support import canary

from m365bot.vault import AttributeSpec, Vault
from postgres_support import postgres_database


@pytest.fixture
def vault_actor() -> str:
    """The vault tests act as "alice" (tests/conftest.py's ``vault`` acts as ``vault_actor``)."""
    return "alice"


@pytest.fixture
def vault_path(tmp_path: Path) -> Path:
    """The vault in a data folder it creates itself (tmp_path/home/vault.db), so the tests see
    the folder's mode the vault gives it."""
    return tmp_path / "home" / "vault.db"


@pytest.fixture
def raw_key(vault_key: str) -> bytes:
    """The 32 bytes of ``vault_key`` (the key ``vault`` is unlocked with)."""
    return base64.b64decode(vault_key)


@pytest.fixture
def stocked(vault: Vault) -> tuple[Vault, dict[str, str]]:
    """A vault with a locker 'bots', credential 'o365' and two canary values."""
    values = {"client_secret": canary("secret"), "password": canary("password")}
    vault.create_locker("bots")
    vault.set_credential(
        "bots", "o365", {name: AttributeSpec(v) for name, v in values.items()}
    )
    return vault, values


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A throw-away PostgreSQL database for the vault (dropped afterwards)."""
    with postgres_database("m365bot_vault") as url:
        yield url

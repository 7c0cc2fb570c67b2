"""Fixtures for the Outlook action tests: an emulator whose demo world has one more mailbox,
Hans's, with German folder names (his Inbox is "Posteingang"), and a session on it opened
through Connect over real HTTPS.

* ``shared_outlook_emulator`` (session): that emulator; ``outlook_emulator`` (function): the
  same, reset to the scenario's initial world and with empty request records;
* ``outlook_settings``: proxy + CA of that emulator, a data folder per test;
* ``cli``: environment for ``m365bot`` processes (a vault holding the app secret, an
  emulator info file) and the connect options for Hans's mailbox;
* ``session_for(address)``: a client-credentials session on a mailbox; ``hans``, ``ops``:
  sessions on Hans's and on the shared ops mailbox.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from outlook_support import APP, HANS, OPS, demo_app, demo_secret

import m365bot
from m365bot.cli.actor import default_actor
from m365bot.config import Settings
from m365bot.sessions import Session
from m365bot.values import Secret
from m365bot.vault import AttributeSpec, Vault, new_raw_key
from world_support import settings_for


def _scenario() -> dict[str, Any]:
    from m365bot.emulator.scenario import load_spec

    spec = load_spec("demo")
    contoso = spec["tenants"][0]
    contoso["users"].append({
        "name": "hans", "display_name": "Hans Huber", "password": "Hans-Dev-Pa55!",
        "mailbox": {
            "folder_names": {"inbox": "Posteingang", "sentitems": "Gesendete Elemente",
                             "deleteditems": "Gelöschte Elemente", "archive": "Archiv"},
            "folders": [{"name": "Vertrieb", "parent": "inbox",
                         "children": [{"name": "2026"}]},
                        {"name": "Projekte"}],
            "messages": [{"folder": "inbox", "subject": "Angebot", "from": APP["from"],
                          "to": [HANS]}],
        }})
    return spec


@pytest.fixture(scope="session")
def shared_outlook_emulator(emulator_data_dir: Path) -> Iterator[Any]:
    """The demo world plus Hans's German mailbox, for the whole test session."""
    from m365bot.emulator.runtime import Emulator

    with Emulator.start(scenario=_scenario(), data_dir=emulator_data_dir) as emulator:
        yield emulator


@pytest.fixture
def outlook_emulator(shared_outlook_emulator: Any) -> Any:
    """``shared_outlook_emulator`` reset to the scenario's initial world (state, clock,
    settings, faults, records) before the test."""
    shared_outlook_emulator.reset()
    return shared_outlook_emulator


@pytest.fixture
def outlook_settings(outlook_emulator: Any, tmp_path: Path) -> Settings:
    """Settings that reach ``outlook_emulator`` through its proxy, with tmp_path/home as
    data folder."""
    return settings_for(outlook_emulator, tmp_path)


@pytest.fixture
def session_for(outlook_emulator: Any,
                outlook_settings: Settings) -> Iterator[Callable[[str], Session]]:
    opened: list[Session] = []

    def open_(address: str) -> Session:
        app = demo_app(outlook_emulator.info)
        s = m365bot.connect(cloud="global", mode="client-credentials",
                            client_id=app["client_id"], tenant_id=app["tenant_id"],
                            username=address, client_secret=Secret(demo_secret(app)),
                            settings=outlook_settings)
        opened.append(s)
        return s

    yield open_
    for s in opened:
        m365bot.disconnect(s)


@pytest.fixture
def hans(session_for: Callable[[str], Session]) -> Session:
    return session_for(HANS)


@pytest.fixture
def ops(session_for: Callable[[str], Session]) -> Session:
    return session_for(OPS)


@pytest.fixture
def cli(tmp_path: Path, outlook_emulator: Any) -> dict[str, Any]:
    """Environment for the CLI: an emulator info file and a vault holding the app secret."""
    app = demo_app(outlook_emulator.info)
    secret = demo_secret(app)
    info_file = tmp_path / "emulator.json"
    info_file.write_text(json.dumps(outlook_emulator.info))
    key = new_raw_key()
    with Vault.open(tmp_path / "vault.db", actor=default_actor()) as v:
        v.initialize(key=key)
        v.create_locker("bots")
        v.set_credential("bots", "o365", {"client_secret": AttributeSpec(secret)})
    env = {k: v for k, v in os.environ.items() if not k.startswith("M365BOT_")}
    env.update({"M365BOT_HOME": str(tmp_path / "home"), "M365BOT_VAULT": str(tmp_path / "vault.db"),
                "M365BOT_VAULT_KEY": key})
    connect = ["--mode", "client-credentials", "--client-id", app["client_id"],
               "--tenant-id", app["tenant_id"], "--username", HANS,
               "--client-secret", "credential:bots/o365/client_secret",
               "--emulator", str(info_file)]
    return {"env": env, "connect": connect, "secret": secret, "home": tmp_path / "home",
            "app": app, "info_file": str(info_file)}

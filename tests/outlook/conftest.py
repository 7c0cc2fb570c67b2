"""Fixtures for the Outlook action tests: an emulator whose demo world has one more mailbox,
Hans's, with German folder names (his Inbox is "Posteingang"), and a session on it opened
through Connect over real HTTPS.

* ``outlook_emu`` (session): that emulator; ``emu`` (function): the same, reset to the
  scenario's initial world and with empty request records;
* ``settings``: proxy + CA of the emulator, a data folder per test;
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
def outlook_emu(emulator_data_dir: Path) -> Iterator[Any]:
    from m365bot.emulator.runtime import Emulator

    with Emulator.start(scenario=_scenario(), data_dir=emulator_data_dir) as emu:
        yield emu


@pytest.fixture
def emu(outlook_emu: Any) -> Any:
    outlook_emu.reset()
    return outlook_emu


@pytest.fixture
def settings(emu: Any, tmp_path: Path) -> Settings:
    info = emu.info
    return Settings(data_dir=tmp_path / "home", proxy=info["proxy_url"],
                    ca_bundle=info["ca_bundle"], timeout=20)


@pytest.fixture
def session_for(emu: Any, settings: Settings) -> Iterator[Callable[[str], Session]]:
    opened: list[Session] = []

    def open_(address: str) -> Session:
        app = demo_app(emu.info)
        s = m365bot.connect(cloud="global", mode="client-credentials",
                            client_id=app["client_id"], tenant_id=app["tenant_id"],
                            username=address, client_secret=Secret(demo_secret(app)),
                            settings=settings)
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
def cli(tmp_path: Path, emu: Any) -> dict[str, Any]:
    """Environment for the CLI: an emulator info file and a vault holding the app secret."""
    app = demo_app(emu.info)
    secret = demo_secret(app)
    info_file = tmp_path / "emulator.json"
    info_file.write_text(json.dumps(emu.info))
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

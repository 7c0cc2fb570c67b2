"""Fixtures for the Outlook action tests: an emulator whose demo world has one more mailbox,
Hans's, with German folder names (his Inbox is "Posteingang"), and a session on it opened
through Connect over real HTTPS.

* ``outlook_emu`` (session): that emulator; ``emu`` (function): the same, reset to the
  scenario's initial world and with empty request records;
* ``settings``: proxy + CA of the emulator, a data folder per test;
* ``session_for(address)``: a client-credentials session on a mailbox; ``hans``, ``ops``:
  sessions on Hans's and on the shared ops mailbox.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from outlook_support import APP, HANS, OPS, demo_app, demo_secret

import m365bot
from m365bot.config import Settings
from m365bot.sessions import Session
from m365bot.values import Secret


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

"""Remote Connect: "Control Room managed" against a served Control Room, with the Control
Room's URL and the runner's API key from the environment, the Credential Vault or a
Variable; a revoked key is refused with advice; without the URL the embedded store next to
the vault stays the default."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from oauth_support import PROVIDER, app_connection, oauth_server, stock_oauth

import m365bot
from m365bot.controlroom import RemoteControlRoom, apikeys
from m365bot.controlroom.db import Database
from m365bot.controlroom.remote import connections_for
from m365bot.controlroom.store import ConnectionStore
from m365bot.errors import AuthError
from m365bot.values import CredentialRef, VariableRef
from m365bot.vault import AttributeSpec
from plugins.canary import scan_output

OPS = "ops@contoso.onmicrosoft.com"


def _room(info: dict[str, Any], vault_key: str, tmp_path: Path, settings: Any) -> Any:
    room = stock_oauth(str(tmp_path / "cr.db"), vault_key, info,
                       connections=(app_connection(info),))
    with room.store() as store:
        assert store.login(PROVIDER, "ops-app", token_type="shared", settings=settings) \
            == "Active"
    return room


def test_cli_connect_with_url_and_key_from_the_environment(
        clean_emulator: Any, settings: Any, vault_key: str, tmp_path: Path) -> None:
    info = clean_emulator.info
    room = _room(info, vault_key, tmp_path, settings)
    info_file = tmp_path / "emu.json"
    info_file.write_text(json.dumps(info))
    with oauth_server(room, tmp_path / "server") as server:
        env = {**os.environ, "M365BOT_HOME": str(tmp_path / "runner"),
               "M365BOT_CONTROLROOM_URL": server.url,
               "M365BOT_CONTROLROOM_API_KEY": room.api_key.reveal()}
        env.pop("M365BOT_VAULT_KEY", None)
        r = subprocess.run([sys.executable, "-m", "m365bot", "connect", "--mode",
                            "Control Room managed", "--username", OPS, "--provider-type",
                            PROVIDER, "--connection", "ops-app", "--token-type", "shared",
                            "--emulator", str(info_file), "--json"],
                           capture_output=True, text=True, env=env, timeout=120)
        scan_output(r.stdout + r.stderr, "remote connect")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["mailbox"] == OPS
        assert room.api_key.reveal() not in r.stdout + r.stderr
        # no vault on the runner: nothing was written next to where a vault would be
        assert not (tmp_path / "runner" / "controlroom.db").exists()


def test_key_from_the_vault_and_url_from_a_variable(
        clean_emulator: Any, settings: Any, vault: Any, vault_key: str,
        tmp_path: Path) -> None:
    info = clean_emulator.info
    room = _room(info, vault_key, tmp_path, settings)
    vault.create_locker("runner")
    vault.set_credential("runner", "controlroom",
                         {"api_key": AttributeSpec(room.api_key.reveal())})
    with oauth_server(room, tmp_path / "server") as server:
        cr = RemoteControlRoom(url=VariableRef("crUrl"),
                               api_key=CredentialRef("runner", "controlroom", "api_key"),
                               vault=vault, variables={"crUrl": server.url})
        s = m365bot.connect(cloud="global", mode="control-room", username=OPS,
                            connection={"provider_type": PROVIDER,
                                        "connection_name": "ops-app"},
                            settings=settings, connections=cr)
        assert s.identity_type == "app" and s.mailbox == OPS
        s.close()
        env = {"M365BOT_CONTROLROOM_URL": server.url,
               "M365BOT_CONTROLROOM_API_KEY": "credential:runner/controlroom/api_key"}
        assert isinstance(connections_for(env, vault=vault), RemoteControlRoom)
        # a revoked key: one error saying so, before any token
        database = Database.open(room.db)
        apikeys.revoke(database, "runner1", by="test")
        database.dispose()
        with pytest.raises(AuthError) as ei:
            m365bot.connect(cloud="global", mode="control-room", username=OPS,
                            connection={"provider_type": PROVIDER,
                                        "connection_name": "ops-app"},
                            settings=settings, connections=cr)
        assert "unknown or revoked" in ei.value.message and "new key" in ei.value.advice
        cr.close()


def test_embedded_store_stays_the_default(vault: Any) -> None:
    store = connections_for({}, vault=vault)
    assert isinstance(store, ConnectionStore)
    assert Path(store.db.engine.url.database or "").name == "controlroom.db"
    assert Path(store.db.engine.url.database or "").parent == Path(vault.path).parent

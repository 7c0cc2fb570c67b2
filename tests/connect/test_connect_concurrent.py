"""Eight bot processes connecting at once through one expired cached token cause exactly one
token request at the emulator, and all of them connect."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import m365bot
from m365bot.config import Settings
from m365bot.values import CredentialRef
from world_support import app, login_requests


def test_eight_processes_one_expired_token_one_token_request(
        clean_emulator: Any, settings: Settings, demo_vault: Any, vault_key: str) -> None:
    a = app(clean_emulator.info)
    s = m365bot.connect(cloud="global", mode="client-credentials", client_id=a["client_id"],
                        tenant_id=a["tenant_id"], username="ops@contoso.onmicrosoft.com",
                        client_secret=CredentialRef("bots", "o365-global", "client_secret"),
                        settings=settings, vault=demo_vault)
    key = s.descriptor()["cache_key"]
    s.close()
    data = json.loads(demo_vault.get_blob("token_cache", key))
    past = str(int(time.time()) - 60)
    for entry in data["AccessToken"].values():
        entry["expires_on"] = entry["extended_expires_on"] = past
    demo_vault.put_blob("token_cache", key, json.dumps(data).encode())
    clean_emulator.control.clear()
    env = {k: v for k, v in os.environ.items() if not k.startswith("M365BOT_")}
    env.update({"M365BOT_HOME": str(settings.data_dir), "M365BOT_PROXY": str(settings.proxy),
                "M365BOT_CA_BUNDLE": str(settings.ca_bundle), "M365BOT_VAULT_KEY": vault_key,
                "BOT_VAULT": str(demo_vault.path), "BOT_CID": a["client_id"],
                "BOT_TID": a["tenant_id"]})
    script = str(Path(__file__).parent / "connect_bot.py")
    procs = [subprocess.Popen([sys.executable, script], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(8)]
    outs = [json.loads(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in procs]
    assert all(o.get("identity") == "m365bot-demo" for o in outs), outs
    assert all(o["expires_on"] > time.time() + 600 for o in outs)
    tokens = [r for r in login_requests(clean_emulator) if r.get("op") == "token"]
    assert len(tokens) == 1

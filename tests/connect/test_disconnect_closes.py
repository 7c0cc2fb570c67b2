"""Disconnect closes every HTTP connection of the session, the sign-in (token) connection
included: a connect + disconnect, and a failed connect, in a fresh process leave no unclosed
socket behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from world_support import app, secret_of

SCRIPT = r"""
import gc, json, os, sys, warnings
warnings.simplefilter("always", ResourceWarning)
import m365bot
import m365bot.errors
from m365bot.config import Settings
from m365bot.values import Secret
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", ResourceWarning)
    s = m365bot.connect(cloud="global", mode="client-credentials",
                        client_id=os.environ["BOT_CID"], tenant_id=os.environ["BOT_TID"],
                        username="ops@contoso.onmicrosoft.com",
                        client_secret=Secret(sys.stdin.readline().strip()),
                        settings=Settings(proxy=os.environ["BOT_PROXY"],
                                          ca_bundle=os.environ["BOT_CA"],
                                          data_dir=os.environ["BOT_HOME"]))
    s.graph_get("/users/ops@contoso.onmicrosoft.com/mailFolders/inbox")
    m365bot.disconnect(s)
    del s
    try:  # a failed Connect (wrong secret) leaves nothing open either
        m365bot.connect(cloud="global", mode="client-credentials",
                        client_id=os.environ["BOT_CID"], tenant_id=os.environ["BOT_TID"],
                        username="ops@contoso.onmicrosoft.com",
                        client_secret=Secret("wrong-secret-value"),
                        settings=Settings(proxy=os.environ["BOT_PROXY"],
                                          ca_bundle=os.environ["BOT_CA"],
                                          data_dir=os.environ["BOT_HOME"]))
        raise SystemExit("a wrong secret connected")
    except m365bot.errors.AuthError:
        pass
    gc.collect()
print(json.dumps([str(w.message)[:200] for w in caught
                  if issubclass(w.category, ResourceWarning)]))
"""


def test_disconnect_leaves_no_open_connection(clean_emulator: Any, tmp_path: Any) -> None:
    a = app(clean_emulator.info)
    env = {**os.environ, "BOT_CID": a["client_id"], "BOT_TID": a["tenant_id"],
           "BOT_PROXY": clean_emulator.info["proxy_url"],
           "BOT_CA": clean_emulator.info["ca_bundle"],
           "BOT_HOME": str(tmp_path / "home")}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], input=secret_of(a) + "\n", env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []

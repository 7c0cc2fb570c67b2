"""Many runners and several server processes meet one expired token: the emulator sees
exactly one refresh. Two ``controlroom serve`` processes share one PostgreSQL (the slot's
row lock, ``SELECT ... FOR UPDATE``); the same with one server on SQLite (``BEGIN
IMMEDIATE``). Each of 8 runner processes connects "Control Room managed" with the Shared
token; the emulator's clock has moved two hours on, so Graph refuses the token every runner
was handed and each asks the broker for a fresh one at about the same moment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from oauth_support import PROVIDER, browser_for, oauth_server, outlook_connection, stock_oauth

from plugins.canary import scan_output
from postgres_support import postgres_database
from world_support import login_requests

pytestmark = pytest.mark.slow
RUNNERS = 8

RUNNER = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path
    import m365bot
    from m365bot.config import Settings
    from m365bot.controlroom.remote import RemoteControlRoom

    go = Path(sys.argv[3])
    while not go.exists():
        time.sleep(0.01)
    settings = Settings(data_dir=sys.argv[4], proxy=os.environ["EMU_PROXY"],
                        ca_bundle=os.environ["EMU_CA"])
    room = RemoteControlRoom(url=sys.argv[1], api_key=os.environ["CR_KEY"])
    s = m365bot.connect(cloud="global", mode="control-room", username=sys.argv[2],
                        connection={"provider_type": "Microsoft 365 Outlook",
                                    "connection_name": "ops", "token_type": "Shared"},
                        settings=settings, connections=room)
    n = len(list(s.mail.list("Inbox")))
    m365bot.disconnect(s)
    print(json.dumps({"identity": s.identity, "inbox": n}))
""")


@pytest.fixture(params=["postgresql", "sqlite"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, int]]:
    """(database, number of server processes)."""
    if request.param == "sqlite":
        yield str(tmp_path / "cr.db"), 1
    else:
        with postgres_database("m365bot_cr") as url:
            yield url, 2


def test_one_refresh_for_many_runners_and_servers(clean_emulator: Any, settings: Any,
                                                  vault_key: str, tmp_path: Path,
                                                  backend: tuple[str, int]) -> None:
    db, n_servers = backend
    info = clean_emulator.info
    room = stock_oauth(db, vault_key, info, connections=(outlook_connection(info),))
    with room.store() as store:
        assert store.login(PROVIDER, "ops", token_type="shared", settings=settings,
                           open_browser=browser_for(info, "alice"), timeout=30) == "Active"
    with ExitStack() as stack:
        servers = [stack.enter_context(oauth_server(room, tmp_path / f"server{i}"))
                   for i in range(n_servers)]
        clean_emulator.clock.advance(2 * 3600)  # every token handed out so far is refused
        clean_emulator.control.clear()
        go = tmp_path / "go"
        env = {**os.environ, "CR_KEY": room.api_key.reveal(), "EMU_PROXY": info["proxy_url"],
               "EMU_CA": info["ca_bundle"]}
        runners = [subprocess.Popen(
            [sys.executable, "-c", RUNNER, servers[i % n_servers].url, room.alice, str(go),
             str(tmp_path / f"runner{i}")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=env) for i in range(RUNNERS)]
        time.sleep(3)  # let every runner import and wait at the start line
        go.write_text("go")
        results = [r.communicate(timeout=180) for r in runners]
    for (out, err), proc in zip(results, runners, strict=True):
        scan_output(out + err, "scale runner")
        assert proc.returncode == 0, err
        done = json.loads(out)
        assert done["identity"] == room.alice and done["inbox"] > 0
    token_requests = [r for r in login_requests(clean_emulator) if r["op"] == "token"]
    assert len(token_requests) == 1, token_requests  # one refresh for 8 runners
    graph = [r["status"] for r in clean_emulator.control.requests() if r.get("role") == "graph"
             and "inbox" in str(r.get("path", "")).lower() and "messages" not in
             str(r.get("path", ""))]
    assert graph.count(401) == RUNNERS  # every runner met the expired token

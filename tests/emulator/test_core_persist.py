"""``--state DIR``: the emulator's world, clock and signing key survive a restart."""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from core_support import app_token, direct_client

from m365bot.emulator.persist import STATE_FILE, Persistence, PersistError
from m365bot.emulator.runtime import Emulator
from m365bot.emulator.state import State

ALICE = "alice@contoso.onmicrosoft.com"


def test_state_clock_and_key_survive_restart(tmp_path: Path, emulator_data_dir: Path) -> None:
    state_dir = tmp_path / "state"
    with Emulator.start(data_dir=emulator_data_dir, state_dir=state_dir) as emu:
        with direct_client(emu) as client:
            token = app_token(emu, client)
            assert client.post("/_emulator/clock/advance", json={"seconds": 7200}).is_success
        box = emu.state.mailbox("bob@contoso.onmicrosoft.com")
        assert box is not None
        box.display_name = "Bob (renamed before restart)"
        emu.state_changed()
    saved = Persistence(state_dir, State, float).load()
    assert saved is not None and saved[1] == pytest.approx(7200)

    with Emulator.start(data_dir=emulator_data_dir, state_dir=state_dir) as again:
        box = again.state.mailbox("bob@contoso.onmicrosoft.com")
        assert box is not None and box.display_name == "Bob (renamed before restart)"
        assert again.clock.offset == pytest.approx(7200)
        claims = again.tokens.decode_access_token(token)  # same signing key
        assert claims["aud"] == "https://graph.microsoft.com"
        with direct_client(again) as client:
            app_token(again, client)


def test_without_state_dir_nothing_is_kept(tmp_path: Path, emulator_data_dir: Path) -> None:
    with Emulator.start(data_dir=emulator_data_dir) as emu:
        box = emu.state.mailbox("bob@contoso.onmicrosoft.com")
        assert box is not None
        box.display_name = "changed"
        emu.state_changed()
    with Emulator.start(data_dir=emulator_data_dir) as again:
        box = again.state.mailbox("bob@contoso.onmicrosoft.com")
        assert box is not None and box.display_name == "Bob Berg"
    assert not list(emulator_data_dir.glob(STATE_FILE))


def test_reset_restores_the_scenario(fresh_emulator: Emulator) -> None:
    box = fresh_emulator.state.mailbox("ops@contoso.onmicrosoft.com")
    assert box is not None
    box.display_name = "changed"
    fresh_emulator.clock.advance(100)
    fresh_emulator.control.add_fault(op="token", status=500)
    fresh_emulator.settings.update({"latency_ms": 5})
    with direct_client(fresh_emulator) as client:
        assert client.post("/_emulator/reset").json() == {"reset": True}
        assert client.get("/_emulator/settings").json()["latency_ms"] == 0
    box = fresh_emulator.state.mailbox("ops@contoso.onmicrosoft.com")
    assert box is not None and box.display_name == "Operations"
    assert fresh_emulator.clock.offset == 0
    assert fresh_emulator.control.faults.list() == []


def test_corrupt_state_file_is_a_clear_error(tmp_path: Path, emulator_data_dir: Path) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / STATE_FILE).write_text("not a database, not JSON either")
    with pytest.raises(PersistError, match="delete it to start from the scenario again"):
        Emulator(data_dir=emulator_data_dir, state_dir=state_dir)


def test_every_part_of_the_demo_world_round_trips(emulator_data_dir: Path) -> None:
    from m365bot.emulator.persist import dump_state, load_state

    emu = Emulator(data_dir=emulator_data_dir, proxy_port=None)
    again = load_state(json.loads(json.dumps(dump_state(emu.state))))
    assert again == emu.state
    box = again.mailbox("ops@contoso.onmicrosoft.com")
    assert box is not None and box.messages and box.events is not None


def test_a_draft_made_through_graph_survives_restart(
    tmp_path: Path, emulator_data_dir: Path
) -> None:
    state_dir = tmp_path / "state"
    mailbox = "/v1.0/users/alice@contoso.onmicrosoft.com"
    with Emulator.start(data_dir=emulator_data_dir, state_dir=state_dir) as emu, \
            direct_client(emu) as client:
        client.headers["Authorization"] = "Bearer " + app_token(emu, client)
        r = client.post(f"{mailbox}/messages", json={"subject": "kept across restarts"})
        assert r.status_code == 201, r.text
        draft_id = r.json()["id"]
    with Emulator.start(data_dir=emulator_data_dir, state_dir=state_dir) as again, \
            direct_client(again) as client:
        client.headers["Authorization"] = "Bearer " + app_token(again, client)
        r = client.get(f"{mailbox}/messages/{draft_id}", params={"$select": "subject"})
        assert r.status_code == 200, r.text
        assert r.json()["subject"] == "kept across restarts"


def test_sigterm_after_a_burst_exits_fast_with_every_acknowledged_write_on_disk(
    tmp_path: Path, emulator_data_dir: Path
) -> None:
    """A real ``m365bot emulator serve --state DIR``: 8 clients write 20 KB drafts as fast as
    they can,
    SIGTERM comes while they still do; the process is gone within 2 s, and every write that
    was acknowledged is in the saved state."""
    state_dir, info_file = tmp_path / "state", tmp_path / "info.json"
    with (tmp_path / "stderr.txt").open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "m365bot", "emulator", "serve", "--port", "0",
             "--proxy-port", "0", "--data-dir", str(emulator_data_dir), "--info-file",
             str(info_file), "--state", str(state_dir)],
            stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            deadline = time.monotonic() + 60
            while not info_file.exists() and time.monotonic() < deadline:
                assert proc.poll() is None, (tmp_path / "stderr.txt").read_text()
                time.sleep(0.05)
            info = json.loads(info_file.read_text())
            acknowledged, exit_seconds = _write_until_stopped(info, proc, burst=1500)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, (tmp_path / "stderr.txt").read_text()
    assert exit_seconds < 2.0, exit_seconds
    assert len(acknowledged) >= 600
    saved = Persistence(state_dir, State, float).load()
    assert saved is not None
    box = saved[0].mailbox(ALICE)
    assert box is not None
    subjects = {m.props.get("subject") for m in box.messages.values()}
    assert set(acknowledged) <= subjects, len(set(acknowledged) - subjects)


def _write_until_stopped(info: dict[str, Any], proc: subprocess.Popen[bytes], *, burst: int
                         ) -> tuple[list[str], float]:
    """Create drafts from 8 threads; after ``burst`` of them, SIGTERM the server while the
    threads go on until it refuses. Returns the subjects of the drafts answered 201, and the
    seconds from SIGTERM to the process's exit."""
    ctx = ssl.create_default_context(cafile=info["ca_bundle"])
    tenant = next(t for t in info["tenants"] if t["domain"] == "contoso.onmicrosoft.com")
    app = next(a for a in info["apps"] if a["tenant_id"] == tenant["id"]
               and a["name"] == "m365bot-demo")
    with httpx.Client(base_url=info["base_url"], verify=ctx, trust_env=False) as c:
        assert c.post("/_emulator/settings", json={"throttling": False}).is_success
        token = c.post(f"/{tenant['id']}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": app["client_id"],
            "client_secret": app["secrets"][0]["value"],
            "scope": "https://graph.microsoft.com/.default"}).json()["access_token"]
    acknowledged: list[str] = []
    lock = threading.Lock()
    signalled = threading.Event()
    signalled_at: list[float] = []
    body = "A line of a long report. " * 800  # 20 KB: a world of ~15 MB by the SIGTERM

    def writer(n: int) -> None:
        with httpx.Client(base_url=info["base_url"], verify=ctx, trust_env=False, timeout=10,
                          headers={"Authorization": f"Bearer {token}"}) as c:
            for i in range(10_000):
                subject = f"burst {n}-{i}"
                try:
                    r = c.post(f"/v1.0/users/{ALICE}/messages", json={
                        "subject": subject, "body": {"contentType": "text", "content": body}})
                except httpx.HTTPError:
                    return  # the server has gone
                if r.status_code != 201:
                    return
                with lock:
                    acknowledged.append(subject)
                    if len(acknowledged) >= burst and not signalled.is_set():
                        signalled.set()
                        signalled_at.append(time.monotonic())
                        proc.send_signal(signal.SIGTERM)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    proc.wait(timeout=60)
    return acknowledged, time.monotonic() - signalled_at[0]


def test_a_state_folder_of_the_json_format_is_carried_over(
    tmp_path: Path, emulator_data_dir: Path
) -> None:
    from m365bot.emulator.persist import LEGACY_FILE, dump_state

    state_dir = tmp_path / "state"
    state_dir.mkdir()
    old = Emulator(data_dir=emulator_data_dir, proxy_port=None)
    box = old.state.mailbox("bob@contoso.onmicrosoft.com")
    assert box is not None
    box.display_name = "Bob (saved by an older version)"
    (state_dir / LEGACY_FILE).write_text(json.dumps(
        {"format": 1, "clock_offset": 60.0, "state": dump_state(old.state)}))
    with Emulator.start(data_dir=emulator_data_dir, state_dir=state_dir) as emu:
        box = emu.state.mailbox("bob@contoso.onmicrosoft.com")
        assert box is not None and box.display_name == "Bob (saved by an older version)"
        assert emu.clock.offset == pytest.approx(60)
    assert (state_dir / STATE_FILE).exists()
    again = Persistence(state_dir, State, float).load()
    assert again is not None and again[0] == emu.state

"""``--state DIR``: the emulator's world, clock and signing key survive a restart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from core_helpers import app_token, direct_client

from m365bot.emulator.persist import STATE_FILE, PersistError
from m365bot.emulator.runtime import Emulator


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
    saved = json.loads((state_dir / STATE_FILE).read_text())
    assert saved["clock_offset"] == pytest.approx(7200)

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
    (state_dir / STATE_FILE).write_text("{not json")
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

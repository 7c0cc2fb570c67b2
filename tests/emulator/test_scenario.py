"""Scenario files: custom worlds in any cloud, and clear errors naming the bad field."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest

from m365bot.emulator.runtime import Emulator
from m365bot.emulator.scenario import ScenarioError, build_state, load_spec

CUSTOM = """
name: custom
tenants:
  - name: tailspin
    cloud: dod
    domain: tailspin.onmicrosoft.us
    users:
      - {name: carol, password: "Carol-Pa55!", display_name: Carol}
      - {name: dave, password: "Dave-Pa55!"}
    shared_mailboxes:
      - name: desk
        grants: [{user: carol, rights: [FullAccess]}, {user: dave, rights: [SendOnBehalf]}]
    apps:
      - name: robot
        client_id: 0f0f0f0f-1111-2222-3333-444444444444
        secrets:
          - {value: "old-secret-value", expires: "2001-01-01"}
          - {value: "new-secret-value", expires_in_days: 30}
        certificates: [{name: robot-cert, expires_in_days: 10}]
        application_permissions: [Mail.Read]
        access_policy: [desk]
      - name: spa
        public_client: true
        redirect_uris: ["http://localhost"]
        delegated_permissions: {Mail.Read: [carol], Mail.Send: admin, Calendars.Read: none}
"""


def test_custom_scenario_in_another_cloud(tmp_path: Path) -> None:
    path = tmp_path / "world.yaml"
    path.write_text(CUSTOM)
    emu = Emulator(scenario=path, data_dir=tmp_path / "data", proxy_port=None)
    info = emu.info
    assert info["scenario"] == "custom"
    (tenant,) = info["tenants"]
    assert tenant["cloud"] == "dod" and tenant["domain"] == "tailspin.onmicrosoft.us"
    robot = next(a for a in info["apps"] if a["name"] == "robot")
    assert robot["client_id"] == "0f0f0f0f-1111-2222-3333-444444444444"
    assert robot["access_policy"] == ["desk@tailspin.onmicrosoft.us"]
    app = emu.state.apps[robot["client_id"]]
    old, new = app.secrets
    assert old.expires < time.time() < new.expires < time.time() + 31 * 86400
    cert = robot["certificates"][0]
    assert Path(cert["pfx_file"]).stat().st_size > 500
    assert Path(cert["key_file"]).stat().st_mode & 0o077 == 0
    spa = next(a for a in info["apps"] if a["name"] == "spa")
    assert spa["delegated_permissions"] == {
        "Mail.Read": ["carol@tailspin.onmicrosoft.us"], "Mail.Send": "admin",
        "Calendars.Read": [],
    }
    desk = info["shared_mailboxes"][0]
    assert desk["address"] == "desk@tailspin.onmicrosoft.us"
    assert {g["user"]: g["rights"] for g in desk["grants"]} == {
        "carol@tailspin.onmicrosoft.us": ["FullAccess"],
        "dave@tailspin.onmicrosoft.us": ["SendOnBehalf"],
    }


def test_certificates_are_reused_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "world.yaml"
    path.write_text(CUSTOM)
    first = Emulator(scenario=path, data_dir=tmp_path / "data", proxy_port=None).info
    again = Emulator(scenario=path, data_dir=tmp_path / "data", proxy_port=None).info
    thumbs = [a["certificates"] for a in first["apps"]]
    assert thumbs == [a["certificates"] for a in again["apps"]]


def test_json_scenarios_work_too(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    path.write_text(json.dumps({"tenants": [{"name": "cn", "cloud": "china",
                                             "domain": "cn.partner.onmschina.cn"}]}))
    state = build_state(load_spec(path), tmp_path, now=time.time())
    assert [t.cloud for t in state.tenants.values()] == ["china"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("cloud: dod", "cloud: azure-mars"), "tenants[0].cloud"),
        (("    domain: tailspin", "    colour: red\n    domain: tailspin"), "tenants[0].colour"),
        (("{user: dave, rights: [SendOnBehalf]}", "{user: erin, rights: [FullAccess]}"),
         "tenants[0].shared_mailboxes[0].grants[1].user"),
        (("rights: [FullAccess]}", "rights: [ReadEverything]}"),
         "tenants[0].shared_mailboxes[0].grants[0].rights"),
        (('expires: "2001-01-01"', 'expires: "last tuesday"'),
         "tenants[0].apps[0].secrets[0].expires"),
        (("client_id: 0f0f0f0f-1111-2222-3333-444444444444", "client_id: robot"),
         "tenants[0].apps[0].client_id"),
        (('{name: carol, password: "Carol-Pa55!", display_name: Carol}', "{name: carol}"),
         "tenants[0].users[0].password"),
        (("Mail.Read: [carol]", "Mail.Read: [zed]"),
         "tenants[0].apps[1].delegated_permissions.Mail.Read"),
    ],
)
def test_bad_scenarios_name_the_field(tmp_path: Path, change: tuple[str, str], field: str) -> None:
    text = CUSTOM.replace(*change)
    assert text != CUSTOM
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as err:
        load_spec(path)
    assert err.value.field == field
    assert field in str(err.value)


def test_unreadable_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="is not a file"):
        load_spec(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text(textwrap.dedent("tenants:\n  - name: [unclosed\n"))
    with pytest.raises(ScenarioError, match=r"not valid YAML/JSON \(line"):
        load_spec(broken)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ScenarioError, match="expected a mapping"):
        load_spec(empty)


def test_bad_mailbox_contents_name_the_scenario_field(tmp_path: Path) -> None:
    text = CUSTOM.replace(
        '{name: dave, password: "Dave-Pa55!"}',
        '{name: dave, password: "Dave-Pa55!", mailbox: {messages: '
        '[{folder: inbox, subject: ok}, {folder: inbox, received: "yesterday-ish"}]}}',
    )
    assert text != CUSTOM
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as err:
        Emulator(scenario=path, data_dir=tmp_path / "data", proxy_port=None)
    assert err.value.field == "tenants[0].users[1].mailbox.messages[1].received"


@pytest.mark.parametrize("name", ["gcchigh", "GCC High", "Azure US GCC High", "usgovhigh"])
def test_a_scenario_accepts_the_cloud_names_m365bot_accepts(tmp_path: Path, name: str) -> None:
    path = tmp_path / "gov.json"
    path.write_text(json.dumps({"tenants": [{"name": "gov", "cloud": name,
                                             "domain": "gov.onmicrosoft.us"}]}))
    state = build_state(load_spec(path), tmp_path, now=time.time())
    assert [t.cloud for t in state.tenants.values()] == ["usgovhigh"]

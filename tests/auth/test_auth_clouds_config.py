"""Clouds parse from the Connect action's labels and short names; Settings validate input."""

from __future__ import annotations

from pathlib import Path

import pytest

from m365bot.clouds import Cloud
from m365bot.config import Settings
from m365bot.errors import ConfigError


@pytest.mark.parametrize(("text", "cloud"), [
    ("Azure Global", Cloud.GLOBAL), ("global", Cloud.GLOBAL), ("com", Cloud.GLOBAL),
    ("Azure US GCC High", Cloud.GCC_HIGH), ("gcchigh", Cloud.GCC_HIGH),
    ("GCC-High", Cloud.GCC_HIGH), ("usgov", Cloud.GCC_HIGH), ("dod", Cloud.DOD),
    ("Azure US DoD", Cloud.DOD), ("china", Cloud.CHINA), ("21Vianet", Cloud.CHINA),
    ("gcc", Cloud.GCC), ("Azure US GCC", Cloud.GCC),
])
def test_parse(text: str, cloud: Cloud) -> None:
    assert Cloud.parse(text) is cloud


def test_hosts_go_together() -> None:
    assert Cloud.GCC_HIGH.login_host == "login.microsoftonline.us"
    assert Cloud.GCC_HIGH.graph_scope == "https://graph.microsoft.us/.default"
    assert Cloud.GCC_HIGH.upload_host == "outlook.office365.us"
    assert Cloud.DOD.graph_url == "https://dod-graph.microsoft.us"
    assert Cloud.CHINA.login_host == "login.chinacloudapi.cn"
    assert Cloud.GCC.graph_url == Cloud.GLOBAL.graph_url == "https://graph.microsoft.com"
    assert Cloud.GLOBAL.authority("t") == "https://login.microsoftonline.com/t"
    assert Cloud.GCC_HIGH.delegated_scopes(["Mail.Read", "offline_access"]) == [
        "https://graph.microsoft.us/Mail.Read", "offline_access"]
    assert len({c.key for c in Cloud}) == 5


def test_unknown_cloud_names_the_field_and_the_choices() -> None:
    with pytest.raises(ConfigError) as e:
        Cloud.parse("Azure Mars", field="azure_cloud")
    assert e.value.field == "azure_cloud"
    assert "Azure US GCC High (gcchigh)" in e.value.advice


def test_settings_validation(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        Settings(data_dir=tmp_path, proxy="proxy.corp:3128")
    assert e.value.field == "proxy"
    with pytest.raises(ConfigError) as e:
        Settings(data_dir=tmp_path, ca_bundle=str(tmp_path / "missing.pem"))
    assert e.value.field == "ca_bundle"
    with pytest.raises(ConfigError) as e:
        Settings(data_dir=tmp_path, timeout=0)
    assert e.value.field == "timeout"


def test_settings_from_env(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    s = Settings.from_env({"M365BOT_HOME": str(tmp_path), "M365BOT_PROXY": "http://p:1",
                           "M365BOT_CA_BUNDLE": str(ca), "M365BOT_TIMEOUT": "12",
                           "M365BOT_BROWSER": "chromium {url}",
                           "REQUESTS_CA_BUNDLE": "/ignored.pem"})
    assert s.data_dir == tmp_path and s.proxy == "http://p:1" and s.ca_bundle == str(ca)
    assert s.timeout == 12 and s.browser == "chromium {url}"
    assert s.vault_location == str(tmp_path / "vault.db")
    with pytest.raises(ConfigError) as e:
        Settings.from_env({"M365BOT_TIMEOUT": "soon"})
    assert e.value.field == "M365BOT_TIMEOUT"

"""Clouds parse from the Connect action's labels and short names; Settings validate input."""

from __future__ import annotations

import os
import subprocess
import sys
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


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"browser": 5}, "browser"),
    ({"proxy": "http://h:notaport"}, "proxy"),
    ({"proxy": "http://h:70000"}, "proxy"),
    ({"proxy": 3128}, "proxy"),
    ({"ca_bundle": b"/etc/ca.pem"}, "ca_bundle"),
    ({"vault_path": 1}, "vault_path"),
    ({"data_dir": 7}, "data_dir"),
    ({"timeout": True}, "timeout"),
])
def test_settings_wrong_types_name_the_field(tmp_path: Path, kwargs: dict[str, object],
                                             field: str) -> None:
    with pytest.raises(ConfigError) as e:
        Settings(**{"data_dir": tmp_path, **kwargs})  # type: ignore[arg-type]
    assert e.value.field == field and e.value.advice


def test_home_pointing_at_a_file_is_one_clear_error(tmp_path: Path) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    for home in (a_file, a_file / "sub"):
        with pytest.raises(ConfigError) as e:
            Settings.from_env({"M365BOT_HOME": str(home)})
        assert e.value.field == "M365BOT_HOME" and str(a_file) in e.value.message
        with pytest.raises(ConfigError) as e:
            Settings(data_dir=home)
        assert e.value.field == "data_dir"


def test_settings_default_reads_no_environment(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings() has one fixed default; only Settings.from_env reads M365BOT_HOME."""
    monkeypatch.setenv("M365BOT_HOME", str(tmp_path / "env-home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert Settings().data_dir == Path.home() / ".local" / "share" / "m365bot"
    assert Settings.from_env().data_dir == tmp_path / "env-home"
    monkeypatch.delenv("M365BOT_HOME")
    assert Settings.from_env().data_dir == tmp_path / "xdg" / "m365bot"


def test_the_data_folder_rule_is_shared(tmp_path: Path) -> None:
    """The vault's default path and the emulator's folder follow config's one rule."""
    from m365bot.config import data_dir_from_env
    from m365bot.vault.paths import default_vault_path

    env = {"M365BOT_HOME": str(tmp_path / "h")}
    assert default_vault_path(env) == data_dir_from_env(env) / "vault.db"
    code = ("from m365bot.emulator.runtime import default_data_dir; print(default_data_dir())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "M365BOT_HOME": "",
                                          "XDG_DATA_HOME": str(tmp_path / "x")}).stdout.strip()
    assert out == str(tmp_path / "x" / "m365bot" / "emulator")


def test_settings_repr_hides_the_proxy_password(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path, proxy="http://bot:CANARY-pw@proxy.corp:3128")
    assert "CANARY-pw" not in repr(s) and "http://bot:****@proxy.corp:3128" in repr(s)
    assert s.proxy == "http://bot:CANARY-pw@proxy.corp:3128"
    assert "proxy='http://proxy.corp:3128'" in repr(Settings(data_dir=tmp_path,
                                                             proxy="http://proxy.corp:3128"))


def _error_text(**kwargs: object) -> tuple[str, str]:
    with pytest.raises(ConfigError) as e:
        Settings(**kwargs)  # type: ignore[arg-type]
    return e.value.field, str(e.value)


def test_settings_errors_read_exactly(tmp_path: Path) -> None:
    """The one line a user sees for each bad setting (pinned: mutants rewrote them)."""
    a_file = tmp_path / "f.txt"
    a_file.write_text("x")
    like = "Fix: give it like http://proxy.example.com:3128"
    cases = {
        "data_dir must be a path, not int Fix: give a folder like ~/.m365bot":
            {"data_dir": 7},
        f"data_dir '{a_file}' cannot be a folder: '{a_file}' is a file Fix: point it "
        "(M365BOT_HOME) at a folder, or remove the file": {"data_dir": a_file},
        f"proxy must be a string, not int {like}": {"proxy": 1},
        "ca_bundle must be a string, not int Fix: give it like /etc/ssl/corp-ca.pem":
            {"ca_bundle": 1},
        "browser must be a string, not int Fix: give it like 'firefox --new-window {url}'":
            {"browser": 1},
        "vault_path must be a string, not int Fix: give it like /srv/bot/vault.db":
            {"vault_path": 1},
        f"proxy must be an http:// or https:// URL {like}": {"proxy": "proxy.corp:3128"},
        f"proxy 'http://bot:****@h:notaport' has a port that is not a number from 0 to 65535 "
        f"{like}": {"proxy": "http://bot:CANARY-pp@h:notaport"},
        "ca_bundle is not a readable file Fix: give the path of a PEM file with the CA "
        "certificates to trust": {"ca_bundle": str(tmp_path / "missing.pem")},
        "timeout must be a number of seconds between 0 and 600 Fix: use e.g. 30":
            {"timeout": 600.5},
    }
    for text, kwargs in cases.items():
        field = next(iter(kwargs))
        assert _error_text(**{"data_dir": tmp_path, **kwargs}) == (field, text)
    for bad in ("ftp://proxy.corp:3128", "http://:3128", "https://"):
        assert _error_text(data_dir=tmp_path, proxy=bad)[0] == "proxy", bad
    for proxy in ("http://proxy.corp:3128", "https://proxy.corp:3128", "http://[::1]:8080"):
        assert Settings(data_dir=tmp_path, proxy=proxy).proxy == proxy
    for ok in (0.5, 600, 1):
        assert Settings(data_dir=tmp_path, timeout=ok).timeout == ok
    assert Settings(data_dir=str(tmp_path)).data_dir == tmp_path  # a str becomes a Path


def test_from_env_defaults_and_errors_read_exactly(tmp_path: Path) -> None:
    s = Settings.from_env({"M365BOT_HOME": str(tmp_path), "M365BOT_VAULT": "/srv/v.db"})
    assert s.timeout == 30.0 and s.vault_path == "/srv/v.db" and s.proxy is None
    assert Settings.from_env({"M365BOT_HOME": str(tmp_path)}).vault_path is None
    with pytest.raises(ConfigError) as e:
        Settings.from_env({"M365BOT_HOME": str(tmp_path), "M365BOT_TIMEOUT": "soon"})
    assert str(e.value) == ("M365BOT_TIMEOUT is not a number Fix: set it to a number of "
                            "seconds, e.g. 30")
    a_file = tmp_path / "f.txt"
    a_file.write_text("x")
    with pytest.raises(ConfigError) as e:
        Settings.from_env({"M365BOT_HOME": str(a_file)})
    assert str(e.value) == (f"M365BOT_HOME '{a_file}' cannot be a folder: '{a_file}' is a file "
                            "Fix: point M365BOT_HOME at a folder (it is created if missing), "
                            "or remove the file")


@pytest.mark.parametrize(("proxy", "shown"), [
    (None, "None"),
    ("http://proxy.corp:3128", "'http://proxy.corp:3128'"),
    ("http://bot@proxy.corp:3128", "'http://bot@proxy.corp:3128'"),  # no password
    ("http://bot:CANARY-a@proxy.corp:3128", "'http://bot:****@proxy.corp:3128'"),
    ("http://bot:CANARY:b@proxy.corp:3128", "'http://bot:****@proxy.corp:3128'"),
    ("http://bot:CANARY@c@proxy.corp:3128", "'http://bot:****@proxy.corp:3128'"),
    ("http://bot:CANARY-d@proxy.corp:3128/x://y", "'http://bot:****@proxy.corp:3128/x://y'"),
])
def test_settings_repr_exactly(tmp_path: Path, proxy: str | None, shown: str) -> None:
    s = Settings(data_dir=tmp_path, proxy=proxy, timeout=12)
    assert repr(s) == (f"Settings(data_dir='{tmp_path}', proxy={shown}, ca_bundle=None, "
                       "timeout=12, browser=None, vault_path=None)")

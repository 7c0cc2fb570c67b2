"""Connect over real HTTPS through the emulator's proxy mode: every cloud, every value source,
and one Graph request beyond the token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

import m365bot
from m365bot.config import Settings
from m365bot.errors import ConfigError, SessionError
from m365bot.values import CredentialRef, Insecure, Secret, VariableRef
from world_support import CLOUD_KEY, app, graph_requests, login_requests, secret_of, tenant


@pytest.mark.parametrize("cloud", list(CLOUD_KEY))
def test_client_credentials_in_every_cloud(cloud: str, clean_emulator: Any, settings: Settings,
                                           demo_vault: Any) -> None:
    info = clean_emulator.info
    t = tenant(info, cloud)
    mailbox = f"alice@{t['domain']}"
    s = m365bot.connect(
        cloud=CLOUD_KEY[cloud], mode="Client Credentials",
        client_id=CredentialRef("bots", f"o365-{cloud}", "client_id"),
        tenant_id=CredentialRef("bots", f"o365-{cloud}", "tenant_id"),
        username=mailbox,
        client_secret=CredentialRef("bots", f"o365-{cloud}", "client_secret"),
        settings=settings, vault=demo_vault)
    assert s.identity == "m365bot-demo" and s.identity_type == "app"
    assert "Mail.ReadWrite" in s.permissions and s.mailbox == mailbox
    assert s.cloud == {"global": "Azure Global", "usgovhigh": "Azure US GCC High",
                       "dod": "Azure US DoD", "china": "Azure China (21Vianet)"}[cloud]
    # exactly one Graph request at Connect time, on this cloud's Graph host
    reqs = graph_requests(clean_emulator)
    assert len(reqs) == 1 and reqs[0]["op"] == "mailFolders.get"
    m365bot.disconnect(s)


def test_every_field_from_variables_and_insecure(clean_emulator: Any, settings: Settings,
                                                 demo_vault: Any) -> None:
    info = clean_emulator.info
    a = app(info)
    variables = {"cid": a["client_id"], "tid": a["tenant_id"], "box": "ops@contoso.onmicrosoft.com",
                 "sec": Secret(secret_of(a)),
                 "sec_ref": CredentialRef("bots", "o365-global", "client_secret")}
    s = m365bot.connect(cloud="Azure Global", mode="clientcred", client_id=VariableRef("cid"),
                        tenant_id=VariableRef("tid"), username=VariableRef("box"),
                        client_secret=VariableRef("sec"), settings=settings,
                        variables=variables)
    assert s.mailbox == "ops@contoso.onmicrosoft.com"
    s.close()
    s = m365bot.connect(cloud="global", mode="client-credentials", client_id=VariableRef("cid"),
                        tenant_id=Insecure(a["tenant_id"]), username=Insecure(
                            "ops@contoso.onmicrosoft.com"),
                        client_secret=VariableRef("sec_ref"), settings=settings, vault=demo_vault,
                        variables=variables)
    assert s.identity == "m365bot-demo"
    s.close()
    import m365bot.values as values

    values._warned_insecure = False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = m365bot.connect(cloud="global", mode="client-credentials", client_id=a["client_id"],
                            tenant_id=a["tenant_id"], username="ops@contoso.onmicrosoft.com",
                            client_secret=Insecure(secret_of(a)), settings=settings)
    s.close()
    mine = [w for w in caught if issubclass(w.category, values.InsecureValueWarning)]
    assert len(mine) == 1 and "client_secret" in str(mine[0].message)
    assert mine[0].filename == __file__  # the warning points at the bot's own line


def test_cli_warns_about_an_insecure_secret_on_argv(clean_emulator: Any, tmp_path: Path) -> None:
    """`vault set` refuses values on argv; `connect` accepts them but says so, in one line."""
    a = app(clean_emulator.info)
    info_file = tmp_path / "emu.json"
    info_file.write_text(json.dumps(clean_emulator.info))
    env = {k: v for k, v in os.environ.items() if not k.startswith("M365BOT_")}
    env["M365BOT_HOME"] = str(tmp_path / "home")
    for value in (f"insecure:{secret_of(a)}", secret_of(a)):
        proc = subprocess.run(
            [sys.executable, "-m", "m365bot", "connect", "--mode", "client-credentials",
             "--client-id", a["client_id"], "--tenant-id", a["tenant_id"],
             "--username", "ops@contoso.onmicrosoft.com", "--client-secret", value,
             "--emulator", str(info_file), "--json"],
            env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Warning: ") and "insecure" in lines[0]
        assert "--client-secret" in lines[0] and secret_of(a) not in proc.stderr + proc.stdout
        assert json.loads(proc.stdout)["identity"] == "m365bot-demo"
    proc = subprocess.run(
        [sys.executable, "-m", "m365bot", "connect", "--mode", "client-credentials",
         "--client-id", a["client_id"], "--tenant-id", a["tenant_id"],
         "--username", "ops@contoso.onmicrosoft.com", "--client-secret", "variable:SEC",
         "--emulator", str(info_file), "--json"],
        env={**env, "SEC": secret_of(a)}, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == ""  # a Variable: no warning


def test_bad_input_names_the_field(clean_emulator: Any, settings: Settings) -> None:
    a = app(clean_emulator.info)
    base: dict[str, Any] = {"cloud": "global", "mode": "client-credentials",
                            "client_id": a["client_id"], "tenant_id": a["tenant_id"],
                            "username": "ops@contoso.onmicrosoft.com",
                            "client_secret": Secret(secret_of(a)), "settings": settings}
    for change, field in [({"cloud": "mars"}, "cloud"), ({"mode": "password"}, "mode"),
                          ({"username": "ops"}, "username"),
                          ({"client_secret": VariableRef("nope")}, "client_secret"),
                          ({"client_secret": CredentialRef("a", "b", "c")}, "client_secret"),
                          ({"session": m365bot.LocalSession("")}, "session"),
                          ({"vault": "x"}, "vault"), ({"settings": "x"}, "settings"),
                          ({"connection": "x"}, "connection"),
                          ({"connection": {"connection_name": 5}}, "connection"),
                          ({"variables": ["secret"]}, "variables")]:
        with pytest.raises(ConfigError) as ei:
            m365bot.connect(**{**base, **change})
        assert ei.value.field == field and ei.value.advice
    assert graph_requests(clean_emulator) == [] and login_requests(clean_emulator) == []


def test_disconnect_closes_and_later_use_is_a_session_error(clean_emulator: Any,
                                                             settings: Settings) -> None:
    a = app(clean_emulator.info)
    s = m365bot.connect(cloud="global", mode="client-credentials", client_id=a["client_id"],
                        tenant_id=a["tenant_id"], username="ops@contoso.onmicrosoft.com",
                        client_secret=Secret(secret_of(a)), settings=settings,
                        session=m365bot.LocalSession("mail"))
    assert m365bot.get_session("mail") is s
    client = s.client
    m365bot.disconnect("mail")
    assert s.closed and client is not None and client.closed
    with pytest.raises(SessionError, match="disconnected"):
        s.graph_get("/users/ops@contoso.onmicrosoft.com/messages")
    with pytest.raises(SessionError, match="no session named 'mail'"):
        m365bot.get_session("mail")
    with pytest.raises(SessionError, match="no session named"):
        m365bot.disconnect("mail")


def test_secret_never_in_repr_or_descriptor(clean_emulator: Any, settings: Settings) -> None:
    a = app(clean_emulator.info)
    secret = secret_of(a)
    s = m365bot.connect(cloud="global", mode="client-credentials", client_id=a["client_id"],
                        tenant_id=a["tenant_id"], username="ops@contoso.onmicrosoft.com",
                        client_secret=Secret(secret), settings=settings)
    tok = s.token().token.reveal()
    for text in (repr(s), str(s.info()), str(s.descriptor()), repr(s.token_provider)):
        assert secret not in text and tok not in text
    s.close()


def test_bad_descriptor_to_reconnect_is_a_session_error(clean_emulator: Any,
                                                        settings: Settings) -> None:
    a = app(clean_emulator.info)
    s = m365bot.connect(cloud="global", mode="client-credentials", client_id=a["client_id"],
                        tenant_id=a["tenant_id"], username="ops@contoso.onmicrosoft.com",
                        client_secret=Secret(secret_of(a)), settings=settings)
    good = s.descriptor()
    s.close()
    bad: list[Any] = [["not", "a", "dict"], {k: v for k, v in good.items() if k != "cloud"},
                      {k: v for k, v in good.items() if k != "client_id"},
                      dict(good, mode="password"), dict(good, cloud="mars"),
                      dict(good, mailbox=None), dict(good, mode="control-room"),
                      dict(good, mode="auth-code")]
    for data in bad:
        with pytest.raises(SessionError) as ei:
            m365bot.reconnect(data, settings=settings)
        assert ei.value.advice, data
    with pytest.raises(ConfigError) as ce:
        m365bot.reconnect(good, settings="x")  # type: ignore[arg-type]
    assert ce.value.field == "settings"
    assert [r for r in graph_requests(clean_emulator) if r["status"] != 200] == []


def test_cli_with_m365bot_home_at_a_file_is_one_error_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from m365bot.cli.main import cli

    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    r = CliRunner().invoke(cli, ["controlroom", "connection", "list"],
                           env={"M365BOT_HOME": str(a_file), "M365BOT_VAULT": None})
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert r.output.startswith(f"Error: M365BOT_HOME '{a_file}' cannot be a folder")
    assert "Fix: point M365BOT_HOME at a folder" in r.output

"""``m365bot controlroom connection add --provider "Microsoft 365 Outlook"``: the built-in
provider fills in the cloud's authorization and token URLs and default scopes; a cloud or
tenant it cannot use is refused, naming the field, and nothing is saved."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from m365bot.cli.main import cli
from m365bot.controlroom import ConnectionStore

TID = "0b0c0d0e-1111-4222-8333-444455556666"


def test_outlook_provider_fills_in_the_urls_per_cloud(vault: Any, vault_key: str) -> None:
    env = {"M365BOT_VAULT_KEY": vault_key, "M365BOT_VAULT": str(vault.path)}
    base = ["controlroom", "connection", "add", "--provider", "Microsoft 365 Outlook",
            "--client-id", "11111111-2222-3333-4444-555555555555", "--tenant", TID]
    hosts = {"global": "login.microsoftonline.com", "gcc": "login.microsoftonline.com",
             "gcchigh": "login.microsoftonline.us", "dod": "login.microsoftonline.us",
             "china": "login.chinacloudapi.cn"}
    for cloud, host in hosts.items():
        r = CliRunner().invoke(cli, [*base, "--name", f"mail-{cloud}", "--cloud", cloud,
                                     "--json"], env=env)
        assert r.exit_code == 0, r.output
        saved = json.loads(r.output)
        assert saved["token_url"] == f"https://{host}/{TID}/oauth2/v2.0/token"
        assert saved["authorization_url"] == f"https://{host}/{TID}/oauth2/v2.0/authorize"
        assert saved["cloud"] == cloud and "offline_access" in saved["scopes"]
    gov = ConnectionStore(vault).get("Microsoft 365 Outlook", "mail-gcchigh")
    assert "https://graph.microsoft.us/Mail.ReadWrite" in gov.scopes
    for bad, field in ((["--cloud", "mars"], "cloud"), (["--tenant", "a/b"], "tenant")):
        r = CliRunner().invoke(cli, [*base, "--name", "bad", *bad], env=env)
        assert r.exit_code == 2 and r.output.startswith("Error: ") and "Fix: " in r.output
        assert field in r.output and "Traceback" not in r.output
    assert len(ConnectionStore(vault).list()) == len(hosts)

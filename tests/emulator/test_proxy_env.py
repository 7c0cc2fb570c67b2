"""Proxy mode the way an unmodified client meets it: nothing but ``HTTPS_PROXY`` and a CA
bundle in the environment, and the real Microsoft URLs in the code (issue 2, proxy mode)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from msal_support import app, tenant, valid_secret

# A plain msal + requests script: no proxy, CA or emulator settings in the code.
_SCRIPT = """
import json, os, msal, requests
cca = msal.ConfidentialClientApplication(
    os.environ["APP_ID"], client_credential=os.environ["APP_SECRET"],
    authority="https://login.microsoftonline.com/" + os.environ["TENANT_ID"],
    instance_discovery=False)
result = cca.acquire_token_for_client(["https://graph.microsoft.com/.default"])
r = requests.get("https://graph.microsoft.com/v1.0/users/alice@contoso.onmicrosoft.com"
                 "/mailFolders/inbox/messages", params={"$top": "1", "$select": "subject"},
                 headers={"Authorization": "Bearer " + result["access_token"]}, timeout=30)
print(json.dumps({"status": r.status_code, "count": len(r.json().get("value", [])),
                  "request_id": r.headers.get("request-id")}))
"""


def _env(info: dict[str, Any], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k.upper() not in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY",
                                "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE",
                                "SSL_CERT_DIR")}
    return {**env, "HTTPS_PROXY": info["proxy_url"], **extra}


def test_curl_with_only_environment_settings(emulator_info: dict[str, Any]) -> None:
    env = _env(emulator_info, CURL_CA_BUNDLE=emulator_info["ca_bundle"])
    result = subprocess.run(
        ["curl", "-sS", "--max-time", "20", "-w", "\n%{http_code}",
         "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0/"
         ".well-known/openid-configuration"],
        capture_output=True, text=True, env=env, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    body, status = result.stdout.rsplit("\n", 1)
    assert status == "200"
    assert json.loads(body)["issuer"].startswith("https://login.microsoftonline.com/")


def test_unmodified_msal_and_requests_with_only_environment_settings(
    emulator: Any, emulator_info: dict[str, Any]
) -> None:
    demo = app(emulator_info, "m365bot-demo")
    env = _env(emulator_info, REQUESTS_CA_BUNDLE=emulator_info["ca_bundle"],
               APP_ID=demo["client_id"], APP_SECRET=valid_secret(demo),
               TENANT_ID=tenant(emulator_info)["id"])
    before = emulator.control.count("messages.list")
    result = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True,
                            env=env, timeout=60, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["status"] == 200 and out["count"] == 1 and out["request_id"]
    assert emulator.control.count("messages.list") == before + 1  # it reached the emulator

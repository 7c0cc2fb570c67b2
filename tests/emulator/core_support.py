"""Shared helpers for the emulator core tests: a direct-mode HTTPS client that trusts only the
emulator's CA, and an app-only Graph token from the token endpoint.

Example::

    with direct_client(emulator) as client:
        client.headers["Authorization"] = "Bearer " + app_token(emulator, client)
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx

from m365bot.emulator.runtime import Emulator


def direct_client(emulator: Emulator, **kw: Any) -> httpx.Client:
    """``https://127.0.0.1:PORT``, our CA only, nothing from the environment."""
    ctx = ssl.create_default_context(cafile=emulator.info["ca_bundle"])
    kw.setdefault("timeout", 10)
    return httpx.Client(base_url=emulator.base_url, verify=ctx, trust_env=False, **kw)


def app_token(emulator: Emulator, client: httpx.Client, *,
              domain: str = "contoso.onmicrosoft.com", name: str = "m365bot-demo") -> str:
    """A client-credentials access token for the demo app of ``domain`` (direct mode)."""
    info: dict[str, Any] = emulator.info
    tenant = next(t for t in info["tenants"] if t["domain"] == domain)
    app = next(a for a in info["apps"] if a["tenant_id"] == tenant["id"] and a["name"] == name)
    r = client.post(f"/{tenant['id']}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": app["client_id"],
        "client_secret": app["secrets"][0]["value"],
        "scope": "https://graph.microsoft.com/.default"})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])

"""Helpers for the Graph tests of the emulator: ``GX`` (a Graph caller), an httpx client that
reaches the real Graph and upload host names through the emulator's proxy, and app-only and
delegated tokens from the real token endpoint. The fixtures built on them (``gx``,
``http_client``, ``draft``, ``calendars_restored``) are in tests/emulator/conftest.py.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

import httpx

GRAPH = "https://graph.microsoft.com/v1.0"
ALICE = "alice@contoso.onmicrosoft.com"
BOB = "bob@contoso.onmicrosoft.com"


@dataclass
class GX:
    """A Graph caller: ``gx.get("/users/x/events")`` → httpx.Response."""

    client: httpx.Client
    token: str
    info: dict[str, Any]

    def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kw.pop("headers", {})}
        url = path if path.startswith("https://") else GRAPH + path
        return self.client.request(method, url, headers=headers, **kw)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.call("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.call("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> httpx.Response:
        return self.call("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.call("DELETE", path, **kw)


def proxied_client(info: dict[str, Any]) -> httpx.Client:
    ctx = ssl.create_default_context(cafile=info["ca_bundle"])
    return httpx.Client(proxy=info["proxy_url"], verify=ctx, trust_env=False, timeout=30)


def app_token(client: httpx.Client, info: dict[str, Any]) -> str:
    """Client-credentials token for contoso's m365bot-demo app from the real token URL."""
    tenant = next(t for t in info["tenants"] if t["cloud"] == "global")
    app = next(a for a in info["apps"]
               if a["tenant_id"] == tenant["id"] and a["name"] == "m365bot-demo")
    r = client.post(
        f"https://login.microsoftonline.com/{tenant['id']}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "client_id": app["client_id"],
              "client_secret": max(app["secrets"], key=lambda s: str(s["expires"]))["value"],
              "scope": "https://graph.microsoft.com/.default"},
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def error_code(r: httpx.Response) -> str:
    body = r.json()
    return str(body["error"]["code"])


def delegated_token(client: httpx.Client, info: dict[str, Any], name: str, scope: str) -> str:
    """A delegated token for user ``name`` of contoso: sign-in pages, code + PKCE redemption."""
    from msal_support import app, get_code, tenant, user

    pkce = app(info, "m365bot-pkce")
    code, verifier = get_code(info, client, pkce["client_id"], user(info, name), scope)
    r = client.post(
        f"https://login.microsoftonline.com/{tenant(info)['id']}/oauth2/v2.0/token",
        data={"grant_type": "authorization_code", "client_id": pkce["client_id"],
              "code": code, "code_verifier": verifier, "scope": scope,
              "redirect_uri": "http://localhost:8400"},
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])

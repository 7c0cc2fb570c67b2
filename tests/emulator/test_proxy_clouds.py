"""Proxy mode, cross-cloud: a token is accepted only by its own cloud's Graph host."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import pytest

LOGIN = {"global": "login.microsoftonline.com", "usgovhigh": "login.microsoftonline.us"}
GRAPH = {"global": "https://graph.microsoft.com", "usgovhigh": "https://graph.microsoft.us"}


def _client(info: dict[str, Any]) -> httpx.Client:
    ctx = ssl.create_default_context(cafile=info["ca_bundle"])
    return httpx.Client(proxy=info["proxy_url"], verify=ctx, trust_env=False, timeout=20)


def _token(info: dict[str, Any], client: httpx.Client, cloud: str) -> str:
    tenant = next(t for t in info["tenants"] if t["cloud"] == cloud)
    app = next(a for a in info["apps"]
               if a["tenant_id"] == tenant["id"] and a["name"] == "m365bot-demo")
    r = client.post(f"https://{LOGIN[cloud]}/{tenant['id']}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": app["client_id"],
        "client_secret": app["secrets"][0]["value"], "scope": f"{GRAPH[cloud]}/.default"})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


@pytest.mark.parametrize(("token_cloud", "graph_cloud"), [("global", "usgovhigh"),
                                                          ("usgovhigh", "global")])
def test_token_is_rejected_by_another_clouds_graph_host(
    emulator_info: dict[str, Any], token_cloud: str, graph_cloud: str
) -> None:
    info = emulator_info
    with _client(info) as client:
        token = _token(info, client, token_cloud)
        own_mailbox = next(u["upn"] for u in info["users"] if u["upn"].startswith("alice@")
                           and any(t["id"] == u["tenant_id"] and t["cloud"] == token_cloud
                                   for t in info["tenants"]))
        url = f"/v1.0/users/{own_mailbox}/messages?$top=1"
        headers = {"Authorization": f"Bearer {token}"}
        own = client.get(GRAPH[token_cloud] + url, headers=headers)
        other = client.get(GRAPH[graph_cloud] + url, headers=headers)
    assert own.status_code == 200, own.text
    assert other.status_code == 401
    assert other.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert other.headers["WWW-Authenticate"].startswith("Bearer")

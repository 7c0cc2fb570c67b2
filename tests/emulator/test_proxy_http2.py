"""HTTP/2: Graph speaks h2 (ALPN) and HTTP/1.1; so does the emulator, direct and in a tunnel."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import pytest

KEYS = "/contoso.onmicrosoft.com/discovery/v2.0/keys"


def _client(info: dict[str, Any], *, http2: bool, proxy: bool) -> httpx.Client:
    ctx = ssl.create_default_context(cafile=info["ca_bundle"])
    return httpx.Client(http2=http2, verify=ctx, trust_env=False, timeout=20,
                        proxy=info["proxy_url"] if proxy else None)


@pytest.mark.parametrize("proxy", [False, True], ids=["direct", "proxy"])
def test_an_http2_client_negotiates_h2(emulator_info: dict[str, Any], proxy: bool) -> None:
    base = "https://login.microsoftonline.com" if proxy else emulator_info["base_url"]
    graph = "https://graph.microsoft.com" if proxy else emulator_info["base_url"]
    with _client(emulator_info, http2=True, proxy=proxy) as client:
        keys = client.get(base + KEYS)
        me = client.get(graph + "/v1.0/me")
    assert keys.http_version == "HTTP/2" and keys.status_code == 200
    assert keys.json()["keys"]
    # Graph's own error envelope arrives over h2 as well.
    assert me.http_version == "HTTP/2" and me.status_code == 401
    assert me.json()["error"]["code"] == "InvalidAuthenticationToken"


@pytest.mark.parametrize("proxy", [False, True], ids=["direct", "proxy"])
def test_an_http11_client_still_gets_http11(emulator_info: dict[str, Any], proxy: bool) -> None:
    base = "https://login.microsoftonline.com" if proxy else emulator_info["base_url"]
    with _client(emulator_info, http2=False, proxy=proxy) as client:
        r = client.get(base + KEYS)
    assert r.http_version == "HTTP/1.1" and r.status_code == 200


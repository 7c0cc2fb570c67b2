"""Proxy mode: real clients (curl, httpx) reach the emulator through the real Microsoft URLs,
and the proxy refuses everything else."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
from typing import Any

import httpx
import pytest

from m365bot.emulator.proxy import allowed_target
from m365bot.emulator.runtime import Emulator


def _curl(info: dict[str, Any], url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k.upper() not in ("CURL_CA_BUNDLE", "HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY",
                                "NO_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR")}
    cmd = ["curl", "-sS", "--max-time", "20", "--proxy", info["proxy_url"], "--cacert",
           info["ca_bundle"], "-w", "\n%{http_code}", *extra, url]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=30, check=False)


def _connect(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    return data


def _proxy_client(info: dict[str, Any]) -> httpx.Client:
    ctx = ssl.create_default_context(cafile=info["ca_bundle"])
    return httpx.Client(proxy=info["proxy_url"], verify=ctx, trust_env=False, timeout=20)


def test_curl_reaches_login_through_the_real_hostname(emulator_info: dict[str, Any]) -> None:
    url = ("https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0/"
           ".well-known/openid-configuration")
    result = _curl(emulator_info, url)
    assert result.returncode == 0, result.stderr
    body, status = result.stdout.rsplit("\n", 1)
    assert status == "200"
    config = json.loads(body)
    assert config["token_endpoint"].startswith("https://login.microsoftonline.com/")


def test_curl_reaches_graph_through_the_real_hostname(emulator_info: dict[str, Any]) -> None:
    result = _curl(emulator_info, "https://graph.microsoft.com/v1.0/me", "-D", "-")
    assert result.returncode == 0, result.stderr
    status = result.stdout.rsplit("\n", 1)[1]
    assert status == "401"  # no token: Graph's own error, from the emulator
    assert "request-id:" in result.stdout.lower()
    assert "www-authenticate: bearer" in result.stdout.lower()
    assert '"InvalidAuthenticationToken"' in result.stdout


def test_curl_to_a_foreign_host_is_refused(emulator_info: dict[str, Any]) -> None:
    result = _curl(emulator_info, "https://example.com/")
    assert result.returncode != 0
    assert "403" in result.stderr or "CONNECT" in result.stderr


@pytest.mark.parametrize(
    "target",
    [
        "example.com:443",
        "127.0.0.1:22",
        "graph.microsoft.com.evil.com:443",
        "evil.com.graph.microsoft.com:443",
        "graph.microsoft.com:80",
        "graph.microsoft.com:8443",
        "localhost:443",
        f"127.0.0.1:{0}",
    ],
)
def test_connect_to_anything_unlisted_is_403(emulator: Emulator, target: str) -> None:
    if target.endswith(":0"):
        target = f"127.0.0.1:{emulator.https_port}"  # not even the emulator's own port
    reply = _connect(emulator.proxy_port or 0,
                     f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    assert reply.startswith(b"HTTP/1.1 403 ")


def test_plain_http_proxying_and_garbage_are_refused(emulator: Emulator) -> None:
    port = emulator.proxy_port or 0
    reply = _connect(port, b"GET http://graph.microsoft.com/v1.0/me HTTP/1.1\r\n"
                           b"Host: graph.microsoft.com\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 403 ")
    assert _connect(port, b"\x16\x03\x01garbage\r\n\r\n").startswith(b"HTTP/1.1 400 ")


def test_allow_list_is_exact() -> None:
    assert allowed_target("GRAPH.microsoft.com:443") == "graph.microsoft.com"
    assert allowed_target("outlook.office.com:443") == "outlook.office.com"
    assert allowed_target("graph.microsoft.com") is None
    assert allowed_target("[::1]:443") is None


def test_host_decides_the_cloud_for_tenants(emulator_info: dict[str, Any]) -> None:
    path = "/fabrikamgov.onmicrosoft.us/v2.0/.well-known/openid-configuration"
    with _proxy_client(emulator_info) as client:
        wrong = client.get("https://login.microsoftonline.com" + path)
        right = client.get("https://login.microsoftonline.us" + path)
    assert wrong.status_code == 400
    assert wrong.json()["error_codes"] == [90002]
    assert right.status_code == 200
    assert right.json()["issuer"].startswith("https://login.microsoftonline.us/")


def test_tunnel_carries_many_requests_on_one_connection(emulator_info: dict[str, Any]) -> None:
    url = ("https://login.microsoftonline.com/contoso.onmicrosoft.com/discovery/v2.0/keys")
    with _proxy_client(emulator_info) as client:
        keys = [client.get(url).json()["keys"][0]["kid"] for _ in range(20)]
    assert len(set(keys)) == 1


def test_every_emulated_host_presents_a_trusted_certificate(
    emulator_info: dict[str, Any],
) -> None:
    from m365bot.emulator.hosts import HOSTS

    with _proxy_client(emulator_info) as client:
        for host in HOSTS:
            r = client.get(f"https://{host}/v1.0/nothing-here")  # TLS verified against our CA
            assert r.status_code in (400, 404), (host, r.status_code)
            assert "error" in r.json()

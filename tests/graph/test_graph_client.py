"""The Graph transport: 401 → one forced refresh and one retry, a second 401 → AuthError;
Retry-After for idempotent requests only, within a total wait budget; a dropped connection
resent once for idempotent requests only; a fresh client-request-id per attempt; keep-alive;
network failures → TransportError with advice; Graph's error envelope → GraphError. Over the
emulator's real HTTPS through its proxy (faults and clock), plus MockTransport for malformed
answers."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import certifi
import httpx
import pytest

import m365bot
from m365bot.auth.tokens import make_access_token
from m365bot.config import Settings
from m365bot.controlroom import ConnectionStore, OAuthConnection
from m365bot.errors import (
    AuthError,
    GraphError,
    NotFoundError,
    SessionError,
    ThrottledError,
    TransportError,
)
from m365bot.graph.client import GraphClient
from m365bot.graph.core import MAX_RETRY_AFTER
from m365bot.net import HttpFactory, network_errors
from m365bot.values import CredentialRef, Secret
from m365bot.vault import Vault
from world_support import app, graph_requests, login_requests, secret_of

OPS = "ops@contoso.onmicrosoft.com"
LIST = f"/users/{OPS}/mailFolders/inbox/messages"


def _session(emulator: Any, settings: Settings) -> Any:
    a = app(emulator.info)
    return m365bot.connect(cloud="global", mode="client-credentials", client_id=a["client_id"],
                           tenant_id=a["tenant_id"], username=OPS,
                           client_secret=Secret(secret_of(a)), settings=settings)


def test_expired_token_401_refreshes_once_and_retries(clean_emulator: Any,
                                                      settings: Settings) -> None:
    s = _session(clean_emulator, settings)
    clean_emulator.clock.advance(2 * 3600)  # the emulator now sees our cached token as expired
    clean_emulator.control.clear()
    r = s.graph_get(LIST, params={"$top": 1})
    assert r.status == 200
    graph = [x for x in clean_emulator.control.requests() if x.get("role") == "graph"]
    assert [x["status"] for x in graph] == [401, 200]
    assert len([x for x in login_requests(clean_emulator) if x.get("op") == "token"]) == 1
    s.close()


def test_second_401_is_an_auth_error(clean_emulator: Any, settings: Settings) -> None:
    s = _session(clean_emulator, settings)
    clean_emulator.control.clear()
    clean_emulator.control.add_fault(op="messages.list", kind="status", status=401, count=2)
    with pytest.raises(AuthError) as ei:
        s.graph_get(LIST)
    assert "twice" in ei.value.message
    assert s.token().token.reveal() not in str(ei.value)
    graph = [x for x in clean_emulator.control.requests() if x.get("role") == "graph"]
    assert len(graph) == 2  # one retry, no storm
    s.close()


def test_503_retry_after_for_get_but_not_for_post(clean_emulator: Any, settings: Settings) -> None:
    s = _session(clean_emulator, settings)
    clean_emulator.control.clear()
    clean_emulator.control.add_fault(op="messages.list", kind="status", status=503, retry_after=1,
                                     count=1)
    started = time.monotonic()
    assert s.graph_get(LIST, params={"$top": 1}).status == 200
    assert time.monotonic() - started >= 0.9  # Retry-After honoured
    clean_emulator.control.add_fault(op="messages.create", kind="status", status=503, count=1)
    with pytest.raises(GraphError) as ei:
        s.graph_request("POST", f"/users/{OPS}/messages", json={"subject": "x"})
    assert ei.value.status == 503
    assert clean_emulator.control.count("messages.create") == 1
    s.close()


def test_not_found_carries_code_and_request_id(clean_emulator: Any, settings: Settings) -> None:
    s = _session(clean_emulator, settings)
    with pytest.raises(NotFoundError) as ei:
        s.graph_get(f"/users/{OPS}/messages/AAMkAGI2TG93AAA=")
    assert ei.value.status == 404 and ei.value.code and ei.value.request_id
    s.close()


class _Fixed:
    def __init__(self) -> None:
        self.calls = 0

    def get_token(self, *, force_refresh: bool = False) -> Any:
        self.calls += 1
        return make_access_token("CANARY-not-a-real-token", 3600, "cache")


def _client(handler: Any) -> GraphClient:
    return GraphClient("https://graph.microsoft.com", _Fixed(), Settings(),
                       transport=httpx.MockTransport(handler), sleep=lambda s: None)


def test_malformed_answers_become_clear_errors() -> None:
    c = _client(lambda req: httpx.Response(502, content=b"<html>bad gateway"))
    with pytest.raises(GraphError) as ei:
        c.get("/me")
    assert ei.value.status == 502 and "CANARY" not in str(ei.value)

    def reset(req: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("connection reset")

    with pytest.raises(TransportError):
        _client(reset).get("/me")

    c = _client(lambda req: httpx.Response(
        429, json={"error": {"code": "ApplicationThrottled", "message": "slow down"}},
        headers={"Retry-After": "3"}))
    with pytest.raises(ThrottledError) as te:
        c.get("/me")
    assert te.value.code == "ApplicationThrottled" and te.value.retry_after == 3
    c.close()
    with pytest.raises(SessionError):
        c.get("/me")


# -- waiting: Retry-After within a budget -----------------------------------------------------

def _throttled(retry_after: str) -> Any:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={"error": {"code": "ApplicationThrottled",
                                                   "message": "slow down"}},
                              headers={"Retry-After": retry_after})
    return handler


def test_a_huge_retry_after_fails_at_once_with_the_servers_value() -> None:
    slept: list[float] = []
    c = GraphClient("https://graph.microsoft.com", _Fixed(), Settings(),
                    transport=httpx.MockTransport(_throttled("100000")), sleep=slept.append)
    with pytest.raises(ThrottledError) as ei:
        c.get("/me")
    assert slept == []  # never parks a bot for a day
    assert ei.value.retry_after == 100000


def test_retry_after_waits_stay_within_the_budget() -> None:
    slept: list[float] = []
    c = GraphClient("https://graph.microsoft.com", _Fixed(), Settings(),
                    transport=httpx.MockTransport(_throttled("50")), sleep=slept.append)
    with pytest.raises(ThrottledError):
        c.get("/me")
    assert slept == [50.0, 50.0]  # a third wait would pass the budget: fail instead
    assert sum(slept) <= MAX_RETRY_AFTER == 120


def test_a_huge_retry_after_from_the_emulator_is_a_throttled_error(clean_emulator: Any,
                                                                   settings: Settings) -> None:
    s = _session(clean_emulator, settings)
    clean_emulator.control.add_fault(op="messages.list", kind="status", status=429,
                                     retry_after=86400,
                                     count=1)
    slept: list[float] = []
    client = GraphClient("https://graph.microsoft.com", s.token_provider, settings,
                         sleep=slept.append)
    with pytest.raises(ThrottledError) as ei:
        client.get(LIST)
    assert ei.value.retry_after == 86400 and ei.value.code and slept == []
    client.close()
    s.close()


# -- client-request-id -------------------------------------------------------------------------

def test_each_attempt_carries_a_fresh_client_request_id(clean_emulator: Any,
                                                        settings: Settings) -> None:
    s = _session(clean_emulator, settings)
    clean_emulator.control.clear()
    clean_emulator.control.add_fault(op="messages.list", kind="status", status=503, retry_after=0,
                                     count=1)
    s.graph_get(LIST, params={"$top": 1})  # 503, then the retry
    s.graph_get(LIST, params={"$top": 1})
    ids = [r["client_request_id"] for r in graph_requests(clean_emulator)]
    assert len(ids) == 3 and len(set(ids)) == 3
    assert all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                            r"[0-9a-f]{12}", i) for i in ids)
    s.close()


# -- connections ---------------------------------------------------------------------------------

def _sockets(client: httpx.Client) -> list[socket.socket]:
    """The sockets of the client's response streams, recorded by an event hook."""
    seen: list[socket.socket] = []

    def hook(resp: httpx.Response) -> None:
        seen.append(resp.extensions["network_stream"].get_extra_info("socket"))

    client.event_hooks["response"].append(hook)
    return seen


def test_calls_share_one_kept_alive_connection_and_survive_its_loss(
        clean_emulator: Any, settings: Settings) -> None:
    s = _session(clean_emulator, settings)
    assert s.client is not None and s.client._http is not None
    seen = _sockets(s.client._http)
    assert s.graph_get(LIST, params={"$top": 1}).status == 200
    assert s.graph_get(LIST, params={"$top": 1}).status == 200
    assert len(seen) == 2 and seen[0] is seen[1]  # HTTP/2 keep-alive: one connection
    # the server (or a middlebox) dropped the idle connection: the next GET opens a new one
    seen[-1].shutdown(socket.SHUT_RDWR)
    assert s.graph_get(f"/users/{OPS}/mailFolders/inbox", params={"$select": "id"}).status == 200
    assert seen[-1] is not seen[0]
    s.close()


def test_a_get_whose_connection_drops_is_resent_once(clean_emulator: Any,
                                                     settings: Settings) -> None:
    s = _session(clean_emulator, settings)
    clean_emulator.control.clear()
    clean_emulator.control.add_fault(op="messages.list", kind="reset", count=1)
    assert s.graph_get(LIST, params={"$top": 1}).status == 200  # transparently
    assert clean_emulator.control.count("messages.list") == 2
    clean_emulator.control.add_fault(op="messages.list", kind="reset", count=2)
    with pytest.raises(TransportError):  # resent once, not forever
        s.graph_get(LIST, params={"$top": 1})
    s.close()


def test_a_post_whose_connection_drops_is_not_resent(clean_emulator: Any,
                                                     settings: Settings) -> None:
    s = _session(clean_emulator, settings)
    clean_emulator.control.clear()
    clean_emulator.control.add_fault(op="messages.create", kind="apply_then_reset", count=1)
    with pytest.raises(TransportError) as ei:
        s.graph_request("POST", f"/users/{OPS}/messages", json={"subject": "once"})
    assert "could not reach graph.microsoft.com" in ei.value.message
    assert clean_emulator.control.count("messages.create") == 1  # applied once, never twice
    s.close()


# -- network failures -----------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["wrong_ca", "refused_host", "timeout"])
def test_network_failures_are_transport_errors_with_advice(clean_emulator: Any, settings: Settings,
                                                           case: str) -> None:
    base, tokens = "https://graph.microsoft.com", _Fixed()
    if case == "wrong_ca":  # public CAs do not trust the emulator's certificate
        settings = Settings(data_dir=settings.data_dir, proxy=settings.proxy,
                            ca_bundle=certifi.where())
    elif case == "refused_host":  # the emulator's proxy tunnels only Microsoft hosts
        base = "https://example.org"
    else:
        tokens = _session(clean_emulator, settings).token_provider
        clean_emulator.control.add_fault(op="messages.list", kind="slow", delay_ms=3000, count=1)
        settings = Settings(data_dir=settings.data_dir, proxy=settings.proxy,
                            ca_bundle=settings.ca_bundle, timeout=0.5)
    client = GraphClient(base, tokens, settings)
    with pytest.raises(TransportError) as ei:
        client.get(LIST)
    client.close()
    expected = {"wrong_ca": "CA bundle", "refused_host": "proxy setting",
                "timeout": "raise the timeout"}[case]
    assert expected in ei.value.advice
    assert "CANARY" not in str(ei.value)


def test_unusual_characters_in_a_path_reach_graph(clean_emulator: Any, settings: Settings) -> None:
    s = _session(clean_emulator, settings)
    clean_emulator.control.clear()
    with pytest.raises(NotFoundError) as ei:  # a request line never fails locally
        s.graph_get("/users/zoë x@contoso.onmicrosoft.com/mailFolders/inbox",
                    params={"$filter": "subject eq 'Café 50%'"})
    assert ei.value.status == 404 and ei.value.code == "ErrorInvalidUser"
    assert [r["path"] for r in graph_requests(clean_emulator)] == [
        "/v1.0/users/zoë x@contoso.onmicrosoft.com/mailFolders/inbox"]  # as written
    s.close()


CHILD = r"""
import json, os, sys
import m365bot
from m365bot.config import Settings
from m365bot.controlroom import ConnectionStore, OAuthConnection
from m365bot.values import CredentialRef
from m365bot.vault import Vault
vault = Vault.open(os.environ["BOT_VAULT"], actor="bot")
vault.unlock(key=os.environ["M365BOT_VAULT_KEY"])
s = m365bot.connect(cloud="global", mode="client-credentials", client_id=os.environ["BOT_CID"],
    tenant_id=os.environ["BOT_TID"], username="ops@contoso.onmicrosoft.com",
    client_secret=CredentialRef("bots", "o365-global", "client_secret"),
    settings=Settings.from_env(), vault=vault)
r = s.graph_get("/users/ops@contoso.onmicrosoft.com/mailFolders/inbox/messages",
                params={"$top": 1})
print(json.dumps({"status": r.status, "msal": "msal" in sys.modules}))
"""


def test_fresh_process_with_cached_token_needs_no_msal_and_no_sign_in(
        clean_emulator: Any, settings: Settings, demo_vault: Vault, vault_key: str,
                                                                      tmp_path: Path) -> None:
    a = app(clean_emulator.info)
    m365bot.connect(cloud="global", mode="client-credentials", client_id=a["client_id"],
                    tenant_id=a["tenant_id"], username=OPS,
                    client_secret=CredentialRef("bots", "o365-global", "client_secret"),
                    settings=settings, vault=demo_vault).close()
    clean_emulator.control.clear()
    env = dict(os.environ, M365BOT_HOME=str(settings.data_dir), M365BOT_PROXY=settings.proxy,
               M365BOT_CA_BUNDLE=settings.ca_bundle, M365BOT_VAULT_KEY=vault_key,
               BOT_VAULT=str(tmp_path / "vault.db"), BOT_CID=a["client_id"],
               BOT_TID=a["tenant_id"])
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert json.loads(out) == {"status": 200, "msal": False}
    assert login_requests(clean_emulator) == []


def test_environment_proxy_and_ca_variables_are_ignored(clean_emulator: Any, settings: Settings,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    s = _session(clean_emulator, settings)
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.setenv(name, certifi.where())  # public CAs would refuse the emulator
    monkeypatch.setenv("NO_PROXY", "")
    direct = Settings(data_dir=settings.data_dir, ca_bundle=settings.ca_bundle)  # no proxy
    client = GraphClient(clean_emulator.info["base_url"], s.token_provider, direct)
    assert client.get(LIST, params={"$top": 1}).status == 200
    client.close()
    s.close()


# -- the token's audience ------------------------------------------------------------------------

def test_connect_refuses_a_token_for_another_clouds_graph_before_sending_it(
        clean_emulator: Any, settings: Settings, demo_vault: Vault) -> None:
    """A Control Room connection that gets GCC High tokens, used with the cloud left at Azure
    Global: Connect names the mismatch and never shows the token to graph.microsoft.com."""
    gov = app(clean_emulator.info, cloud="usgovhigh")
    base = f"https://login.microsoftonline.us/{gov['tenant_id']}/oauth2/v2.0"
    store = ConnectionStore(demo_vault)
    store.add(OAuthConnection("Microsoft Entra", "gov-app", client_id=gov["client_id"],
                              token_url=base + "/token", grant_type="client_credentials",
                              client_secret=Secret(secret_of(gov)),
                              scopes=["https://graph.microsoft.us/.default"]))
    assert store.login("Microsoft Entra", "gov-app", token_type="shared",
                       settings=settings) == "Active"
    clean_emulator.control.clear()
    with pytest.raises(AuthError) as ei:
        m365bot.connect(cloud="global", mode="control-room", username=OPS,
                        connection={"provider_type": "Microsoft Entra",
                                    "connection_name": "gov-app", "token_type": "shared"},
                        settings=settings, vault=demo_vault, connections=store)
    assert ei.value.code == "wrong_cloud"
    assert "https://graph.microsoft.us" in ei.value.message and "Azure cloud" in ei.value.advice
    assert graph_requests(clean_emulator) == []


# -- the factory's async clients --------------------------------------------------------------

def test_async_clients_have_the_same_trust_proxy_and_errors(clean_emulator: Any,
                                                           settings: Settings) -> None:
    s = _session(clean_emulator, settings)
    url = f"https://graph.microsoft.com/v1.0{LIST}"
    auth = {"Authorization": "Bearer " + s.token().token.reveal()}
    public_cas = Settings(data_dir=settings.data_dir, proxy=settings.proxy,
                          ca_bundle=certifi.where())

    async def get(st: Settings) -> int:
        async with HttpFactory(st).async_client(http2=True) as client:
            with network_errors(url, st.timeout):
                return (await client.get(url, headers=auth)).status_code

    assert asyncio.run(get(settings)) == 200
    with pytest.raises(TransportError) as ei:
        asyncio.run(get(public_cas))
    assert "CA bundle" in ei.value.advice
    s.close()

"""The Graph client's stdlib transport (http.client + ssl), which serves Graph unless httpx is
needed: same proxy and CA settings, same errors as the httpx transport, one kept-alive
connection for Connect's check and the calls after it, and a fresh process with a cached
token that loads neither msal nor httpx."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import certifi
import httpx
import pytest
from connect_support import app, graph_requests, login_requests, secret_of

import m365bot
from m365bot.auth.http import ssl_context
from m365bot.auth.tokens import make_access_token
from m365bot.config import Settings
from m365bot.errors import AuthError, NotFoundError, TransportError
from m365bot.graph.client import GraphClient
from m365bot.graph.stdhttp import StdlibTransport
from m365bot.values import CredentialRef, Secret
from m365bot.vault import Vault

OPS = "ops@contoso.onmicrosoft.com"


class _Fixed:
    def get_token(self, *, force_refresh: bool = False) -> Any:
        return make_access_token("not-a-graph-token", 3600, "cache")


def _httpx(settings: Settings) -> httpx.HTTPTransport:
    return httpx.HTTPTransport(verify=ssl_context(settings), proxy=settings.proxy, http2=True)


@pytest.mark.parametrize("case", ["wrong_ca", "refused_host", "timeout"])
def test_network_failures_read_the_same_on_both_transports(emu: Any, settings: Settings,
                                                           case: str) -> None:
    base = "https://graph.microsoft.com"
    if case == "wrong_ca":  # public CAs do not trust the emulator's certificate
        settings = Settings(data_dir=settings.data_dir, proxy=settings.proxy,
                            ca_bundle=certifi.where())
    elif case == "refused_host":  # the emulator's proxy tunnels only Microsoft hosts
        base = "https://example.org"
    else:
        settings = Settings(data_dir=settings.data_dir, proxy=settings.proxy,
                            ca_bundle=settings.ca_bundle, timeout=0.001)
    errors = []
    for transport in (None, _httpx(settings)):
        client = GraphClient(base, _Fixed(), settings, transport=transport)
        with pytest.raises(TransportError) as ei:
            client.get("/me")
        client.close()
        errors.append((ei.value.message.split(":")[0], ei.value.advice))
    assert errors[0] == errors[1]
    expected = {"wrong_ca": "CA bundle", "refused_host": "proxy setting",
                "timeout": "raise the timeout"}[case]
    assert expected in errors[0][1]


def test_connect_check_and_first_call_share_one_connection(emu: Any,
                                                           settings: Settings) -> None:
    a = app(emu.info)
    s = m365bot.connect(cloud="global", mode="client-credentials", client_id=a["client_id"],
                        tenant_id=a["tenant_id"], username=OPS,
                        client_secret=Secret(secret_of(a)), settings=settings)
    transport = s.client._http if s.client is not None else None
    assert isinstance(transport, StdlibTransport)
    conn = next(iter(transport._conns.values()))
    sock = conn.sock
    r = s.graph_get(f"/users/{OPS}/mailFolders/inbox/messages", params={"$top": 1})
    assert r.status == 200 and r.body["value"]
    assert conn.sock is sock and len(transport._conns) == 1
    # a connection the peer dropped is opened again for a GET, transparently
    sock.shutdown(socket.SHUT_RDWR)
    assert s.graph_get(f"/users/{OPS}/mailFolders/inbox", params={"$select": "id"}).status == 200
    assert len(graph_requests(emu)) == 3
    s.close()
    assert not transport._conns


def test_401_twice_is_an_auth_error_on_the_stdlib_transport(emu: Any,
                                                            settings: Settings) -> None:
    client = GraphClient("https://graph.microsoft.com", _Fixed(), settings)
    with pytest.raises(AuthError) as ei:
        client.get(f"/users/{OPS}/mailFolders/inbox")
    assert "InvalidAuthenticationToken" in ei.value.message
    client.close()


CHILD = r"""
import json, os, sys
import m365bot
from m365bot.config import Settings
from m365bot.values import CredentialRef, Secret
from m365bot.vault import Vault
vault = Vault.open(os.environ["BOT_VAULT"], actor="bot")
vault.unlock(key=os.environ["M365BOT_VAULT_KEY"])
s = m365bot.connect(cloud="global", mode="client-credentials", client_id=os.environ["BOT_CID"],
    tenant_id=os.environ["BOT_TID"], username="ops@contoso.onmicrosoft.com",
    client_secret=CredentialRef("bots", "o365-global", "client_secret"),
    settings=Settings.from_env(), vault=vault)
r = s.graph_get("/users/ops@contoso.onmicrosoft.com/mailFolders/inbox/messages",
                params={"$top": 1})
heavy = sorted(m for m in ("msal", "httpx", "httpcore", "h2", "rich", "click")
               if m in sys.modules)
print(json.dumps({"status": r.status, "heavy": heavy}))
"""


def test_fresh_process_with_cached_token_loads_neither_msal_nor_httpx(
        emu: Any, settings: Settings, vault: Vault, vault_key: str, tmp_path: Path) -> None:
    a = app(emu.info)
    m365bot.connect(cloud="global", mode="client-credentials", client_id=a["client_id"],
                    tenant_id=a["tenant_id"], username=OPS,
                    client_secret=CredentialRef("bots", "o365-global", "client_secret"),
                    settings=settings, vault=vault).close()
    emu.control.clear()
    env = dict(os.environ, M365BOT_HOME=str(settings.data_dir), M365BOT_PROXY=settings.proxy,
               M365BOT_CA_BUNDLE=settings.ca_bundle, M365BOT_VAULT_KEY=vault_key,
               BOT_VAULT=str(tmp_path / "vault.db"), BOT_CID=a["client_id"],
               BOT_TID=a["tenant_id"])
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert json.loads(out) == {"status": 200, "heavy": []}
    assert login_requests(emu) == []


def test_unusual_characters_in_a_path_reach_graph_as_with_httpx(emu: Any,
                                                                 settings: Settings) -> None:
    a = app(emu.info)
    s = m365bot.connect(cloud="global", mode="client-credentials", client_id=a["client_id"],
                        tenant_id=a["tenant_id"], username=OPS,
                        client_secret=Secret(secret_of(a)), settings=settings)
    answers = []
    for transport in (None, _httpx(settings)):
        client = GraphClient("https://graph.microsoft.com", s.token_provider, settings,
                             transport=transport)
        with pytest.raises(NotFoundError) as ei:  # a request line never fails locally
            client.get("/users/zoë x@contoso.onmicrosoft.com/mailFolders/inbox",
                       params={"$filter": "subject eq 'Café 50%'"})
        client.close()
        answers.append((ei.value.status, ei.value.code))
    assert answers[0] == answers[1]
    s.close()

"""The Graph transport: 401 → one forced refresh and one retry, a second 401 → AuthError;
Retry-After for idempotent requests only; Graph's error envelope → GraphError. Over the
emulator's real HTTPS (faults and clock), plus MockTransport for malformed answers."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from connect_support import app, login_requests, secret_of

import m365bot
from m365bot.auth.tokens import make_access_token
from m365bot.config import Settings
from m365bot.errors import (
    AuthError,
    GraphError,
    NotFoundError,
    SessionError,
    ThrottledError,
    TransportError,
)
from m365bot.graph.client import GraphClient
from m365bot.values import Secret

OPS = "ops@contoso.onmicrosoft.com"
LIST = f"/users/{OPS}/mailFolders/inbox/messages"


def _session(emu: Any, settings: Settings) -> Any:
    a = app(emu.info)
    return m365bot.connect(cloud="global", mode="client-credentials", client_id=a["client_id"],
                           tenant_id=a["tenant_id"], username=OPS,
                           client_secret=Secret(secret_of(a)), settings=settings)


def test_expired_token_401_refreshes_once_and_retries(emu: Any, settings: Settings) -> None:
    s = _session(emu, settings)
    emu.clock.advance(2 * 3600)  # the emulator now sees our cached token as expired
    emu.control.clear()
    r = s.graph_get(LIST, params={"$top": 1})
    assert r.status == 200
    graph = [x for x in emu.control.requests() if x.get("role") == "graph"]
    assert [x["status"] for x in graph] == [401, 200]
    assert len([x for x in login_requests(emu) if x.get("op") == "token"]) == 1
    s.close()


def test_second_401_is_an_auth_error(emu: Any, settings: Settings) -> None:
    s = _session(emu, settings)
    emu.control.clear()
    emu.control.add_fault(op="messages.list", kind="status", status=401, count=2)
    with pytest.raises(AuthError) as ei:
        s.graph_get(LIST)
    assert "twice" in ei.value.message
    assert s.token().token.reveal() not in str(ei.value)
    graph = [x for x in emu.control.requests() if x.get("role") == "graph"]
    assert len(graph) == 2  # one retry, no storm
    s.close()


def test_503_retry_after_for_get_but_not_for_post(emu: Any, settings: Settings) -> None:
    s = _session(emu, settings)
    emu.control.clear()
    emu.control.add_fault(op="messages.list", kind="status", status=503, retry_after=1,
                          count=1)
    started = time.monotonic()
    assert s.graph_get(LIST, params={"$top": 1}).status == 200
    assert time.monotonic() - started >= 0.9  # Retry-After honoured
    emu.control.add_fault(op="messages.create", kind="status", status=503, count=1)
    with pytest.raises(GraphError) as ei:
        s.graph_request("POST", f"/users/{OPS}/messages", json={"subject": "x"})
    assert ei.value.status == 503
    assert emu.control.count("messages.create") == 1
    s.close()


def test_not_found_carries_code_and_request_id(emu: Any, settings: Settings) -> None:
    s = _session(emu, settings)
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

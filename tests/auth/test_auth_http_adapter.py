"""msal's HTTP adapter and the factory behind it, against httpx.MockTransport (what msal sends
must reach the wire as msal meant it; what comes back must read as msal expects), plus what
the factory shows of a proxy."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import httpx
import pytest

from m365bot.auth.http import HttpResponse, LazyHttpClient, MsalHttpClient
from m365bot.config import Settings
from m365bot.errors import ConfigError, TransportError
from m365bot.net import HttpFactory, transport_error

TOKEN_URL = "https://login.microsoftonline.com/t/oauth2/v2.0/token"


def _adapter(seen: list[httpx.Request], status: int = 200) -> MsalHttpClient:
    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(status, json={"ok": True}, headers={"X-Ms-Request-Id": "r-1"})

    return MsalHttpClient(Settings(),
                          client=httpx.Client(transport=httpx.MockTransport(handler)))


def test_form_posts_reach_the_wire_as_msal_meant_them() -> None:
    seen: list[httpx.Request] = []
    client = _adapter(seen)
    resp = client.post(TOKEN_URL, params={"p": "1"},
                       data={"grant_type": "client_credentials", "client_assertion": b"abc",
                             "skip": None},
                       headers={"Accept": "application/json", "X-Absent": None})
    req = seen[0]
    assert req.method == "POST" and req.url.params["p"] == "1"
    assert req.content == b"grant_type=client_credentials&client_assertion=abc"
    assert req.headers["accept"] == "application/json" and "x-absent" not in req.headers
    assert resp.status_code == 200 and resp.json() == {"ok": True}
    assert resp.headers["x-ms-request-id"] == "r-1"  # msal reads lower-case names
    client.post(TOKEN_URL, data="raw=body")
    assert seen[1].content == b"raw=body"
    client.get("https://login.microsoftonline.com/t/v2.0/.well-known/openid-configuration")
    assert seen[2].method == "GET" and seen[2].url.query == b""


def test_the_debug_log_shows_method_host_path_status_and_time_only(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="m365bot.auth.http")
    _adapter([]).post(TOKEN_URL + "?dc=ESTS-PUB", data={"client_secret": "s3cret-canary"})
    (line,) = [r.getMessage() for r in caplog.records if r.name == "m365bot.auth.http"]
    shown = re.fullmatch(r"POST login\.microsoftonline\.com/t/oauth2/v2\.0/token -> 200 "
                         r"\((\d+) ms\)", line)
    assert shown and int(shown[1]) < 60_000, line  # an in-memory answer: milliseconds


def test_4xx_answers_go_back_to_msal_and_raise_for_status_says_what_failed() -> None:
    client = _adapter([], status=400)
    resp = client.post(TOKEN_URL, data={"a": "b"})
    assert resp.status_code == 400  # msal reads the error JSON itself
    with pytest.raises(TransportError) as ei:
        resp.raise_for_status()
    assert "HTTP 400" in ei.value.message and ei.value.advice
    HttpResponse(399, "", {}).raise_for_status()  # below 400 is fine
    assert repr(resp) == "<HttpResponse 400>"


def test_network_failures_are_transport_errors_naming_the_host() -> None:
    def refuse(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    client = MsalHttpClient(Settings(timeout=7),
                            client=httpx.Client(transport=httpx.MockTransport(refuse)))
    with pytest.raises(TransportError) as ei:
        client.post(TOKEN_URL, data={"a": "b"})
    assert ei.value.message == "could not reach login.microsoftonline.com: ConnectError"
    assert ei.value.advice == "check the network and proxy settings"


def test_each_kind_of_network_failure_has_its_own_advice() -> None:
    url = "https://graph.microsoft.com/v1.0/me?$select=secret-looking"
    timeout = transport_error(httpx.ReadTimeout("slow"), url, 7.5)
    assert timeout.message == "no answer from graph.microsoft.com within 7.5 s"
    assert timeout.advice == "check the network and proxy settings, or raise the timeout"
    proxy = transport_error(httpx.ProxyError("403"), url, 7)
    assert proxy.message == "the proxy refused the connection to graph.microsoft.com"
    assert proxy.advice == "check the proxy setting (M365BOT_PROXY / --proxy)"
    cert = transport_error(httpx.ConnectError("[SSL: certificate_verify_failed]"), url, 7)
    assert cert.message == "could not reach graph.microsoft.com: ConnectError"
    assert cert.advice == "check the CA bundle setting (ca_bundle)"
    assert "secret-looking" not in str(cert)


def test_the_factory_shows_the_proxy_without_its_password() -> None:
    f = HttpFactory(Settings(proxy="http://bot:pa55word@proxy.corp:3128"))
    assert f.proxy == "http://proxy.corp:3128"
    assert "pa55word" not in repr(f) and "proxy.corp:3128" in repr(f)
    assert HttpFactory(Settings(proxy="https://proxy.corp")).proxy == "https://proxy.corp"
    assert HttpFactory(Settings()).proxy is None
    assert repr(MsalHttpClient(f)) == "<MsalHttpClient proxy=yes>"
    assert repr(MsalHttpClient(Settings())) == "<MsalHttpClient proxy=no>"


def test_a_lazy_client_is_made_once_and_closed_on_request() -> None:
    class Source(LazyHttpClient):
        def __init__(self) -> None:
            self.http_factory, self._http = HttpFactory(Settings()), None

    s = Source()
    first = s.http_client
    assert s.http_client is first
    s.close()
    assert first._client.is_closed
    assert s.http_client is not first  # a later request opens a new one
    s.close()


def test_an_injected_transport_is_used_without_the_proxy(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    factory = HttpFactory(Settings(proxy="http://127.0.0.1:9"))  # nothing listens there
    mock = httpx.MockTransport(lambda req: seen.append(req) or httpx.Response(204))
    with factory.client(transport=mock) as client:
        assert client.get("https://graph.microsoft.com/v1.0/me").status_code == 204
    assert len(seen) == 1


def test_a_ca_bundle_without_a_certificate_says_what_to_give(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("remember to buy milk\n")
    with pytest.raises(ConfigError) as ei:
        HttpFactory(Settings(ca_bundle=str(notes))).ssl_context()
    assert (ei.value.field, ei.value.message, ei.value.advice) == (
        "ca_bundle", f"ca_bundle {str(notes)!r} holds no usable CA certificate",
        "give a PEM file with the CA certificates to trust (-----BEGIN CERTIFICATE----- "
        "blocks) in --ca-bundle / M365BOT_CA_BUNDLE, or leave it unset to trust the "
        "system's CAs")

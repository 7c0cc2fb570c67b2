"""A real headless Chromium signs in on the emulator's /authorize page through proxy mode.

Chromium does not trust the emulator's CA from a file, and ``ignore_https_errors`` would
accept anything. Instead Python verifies the served certificate against the emulator's CA,
and Chromium is told to accept exactly that certificate's public key
(``--ignore-certificate-errors-spki-list``): any other certificate still fails.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from msal_support import app, authorize_url, http, pkce_pair, tenant, user

from browser_support import launch_options

pytestmark = pytest.mark.browser


class _Catcher(BaseHTTPRequestHandler):
    got: dict[str, str] = {}

    def do_GET(self) -> None:
        params = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        if "code" in params or "error" in params:  # not the browser's /favicon.ico
            type(self).got = params
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html><body>Authentication complete.</body></html>")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def loopback() -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", 0), _Catcher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def test_chromium_signs_in_and_the_code_reaches_the_loopback_redirect(
    emulator: Any, loopback: HTTPServer
) -> None:
    from playwright.sync_api import sync_playwright

    info = emulator.info
    pkce = app(info, "m365bot-pkce")
    alice = user(info, "alice")
    redirect = f"http://127.0.0.1:{loopback.server_address[1]}"
    verifier, challenge = pkce_pair()
    url = authorize_url(
        info,
        pkce["client_id"],
        "openid offline_access Mail.ReadWrite",
        redirect_uri=redirect,
        code_challenge=challenge,
        code_challenge_method="S256",
        state="browser-state",
    )
    assert url.startswith("https://login.microsoftonline.com/")
    with sync_playwright() as p:
        # The loopback redirect must not go to the proxy (Playwright proxies loopback too).
        browser = p.chromium.launch(**launch_options(info))
        try:
            page = browser.new_page()
            page.goto(url)
            assert "Sign in" in page.title() or page.locator("h1").inner_text() == "Sign in"
            page.fill("#login", alice["upn"])
            page.fill("#passwd", alice["password"])
            page.click("#idSIButton9")
            page.wait_for_url(f"{redirect}/**", timeout=15000)
            assert "Authentication complete." in page.content()
        finally:
            browser.close()
    got = _Catcher.got
    assert got["state"] == "browser-state" and got["code"]
    with http(info) as client:
        r = client.post(
            f"https://login.microsoftonline.com/{tenant(info)['domain']}/oauth2/v2.0/token",
            data={
                "grant_type": "authorization_code",
                "client_id": pkce["client_id"],
                "code": got["code"],
                "redirect_uri": redirect,
                "code_verifier": verifier,
            },
        )
    assert r.status_code == 200, r.text
    assert emulator.tokens.decode_access_token(r.json()["access_token"])["upn"] == alice["upn"]


def test_chromium_refuses_a_certificate_it_was_not_pinned_to(emulator: Any) -> None:
    """Without the pin the emulator's certificate is untrusted: the pin is what makes it work."""
    from playwright.sync_api import Error, sync_playwright

    info = emulator.info
    with sync_playwright() as p:
        browser = p.chromium.launch(**launch_options(info, pinned=False))
        try:
            page = browser.new_page()
            with pytest.raises(Error, match="ERR_CERT"):
                page.goto(
                    "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration"
                )
        finally:
            browser.close()

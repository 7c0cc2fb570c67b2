"""AuthCodePkce with a real headless Chromium as the system browser: it signs in on the
emulator's page (through proxy mode, trusting exactly the emulator's verified key) and the
redirect lands on our loopback listener; the success page never shows the code."""

from __future__ import annotations

import base64
import hashlib
import socket
import ssl
import threading
from typing import Any

import pytest
from authhelpers import app, identity_requests, user
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from m365bot.auth.modes import AuthCodePkce
from m365bot.config import Settings

pytestmark = pytest.mark.browser

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def spki_pin(info: dict[str, Any]) -> str:
    ctx = ssl.create_default_context(cafile=info["ca_bundle"])
    with socket.create_connection(("127.0.0.1", info["https_port"]), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname="login.microsoftonline.com") as tls:
        der = tls.getpeercert(binary_form=True)
    assert der
    spki = x509.load_der_x509_certificate(der).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


class Chromium:
    """``open_browser`` for AuthCodePkce: a headless Chromium signing ``who`` in."""

    def __init__(self, info: dict[str, Any], who: dict[str, Any]) -> None:
        self.info, self.who = info, who
        self.final_text = ""
        self.final_url = ""
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None

    def __call__(self, url: str) -> None:
        self.thread = threading.Thread(target=self._run, args=(url,), daemon=True)
        self.thread.start()

    def _run(self, url: str) -> None:
        from playwright.sync_api import sync_playwright

        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path="/usr/bin/chromium",
                    args=[*ARGS, f"--ignore-certificate-errors-spki-list={spki_pin(self.info)}"],
                    proxy={"server": self.info["proxy_url"], "bypass": "127.0.0.1"},
                )
                try:
                    page = browser.new_page()
                    page.goto(url)
                    page.fill("#login", self.who["upn"])
                    page.fill("#passwd", self.who["password"])
                    page.click("#idSIButton9")
                    page.wait_for_url("http://127.0.0.1:*/**", timeout=20000)
                    self.final_url = page.url
                    self.final_text = page.content()
                finally:
                    browser.close()
        except BaseException as exc:  # reported by the test
            self.error = exc


def test_chromium_first_run_then_unattended(emu: Any, settings: Settings, vault: Any) -> None:
    alice = user(emu.info, "alice")
    a = app(emu.info, "m365bot-pkce")
    chromium = Chromium(emu.info, alice)

    def make(**kw: Any) -> AuthCodePkce:
        return AuthCodePkce(cloud="Azure Global", tenant=a["tenant_id"],
                            client_id=a["client_id"], username=alice["upn"],
                            redirect_url="http://127.0.0.1:0", settings=settings, store=vault,
                            signin_timeout=60, **kw)

    tok = make(interactive=True, open_browser=chromium).get_token()
    assert chromium.thread is not None
    chromium.thread.join(30)
    assert chromium.error is None, chromium.error
    assert tok.claims["upn"] == alice["upn"] and "Mail.Send" in tok.scopes
    assert "Sign-in finished" in chromium.final_text
    code = dict(p.split("=", 1) for p in chromium.final_url.split("?", 1)[1].split("&"))["code"]
    assert code not in chromium.final_text
    emu.control.clear()
    again = make(interactive=False).get_token()
    assert again.token == tok.token and identity_requests(emu) == []

"""Connect in "Authorization code with PKCE" mode with the sign-in page driven by a REAL
headless Chromium through the emulator's proxy mode. Chromium trusts exactly the emulator's
certificate (its SPKI pin, after Python verified it against the emulator's CA), never any
certificate. The second Connect is unattended, from the persisted sign-in."""

from __future__ import annotations

import base64
import hashlib
import socket
import ssl
import threading
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

import m365bot
from m365bot.config import Settings
from m365bot.sessions import BotRun
from m365bot.vault import Vault, new_raw_key

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _spki_pin(info: dict[str, Any]) -> str:
    ctx = ssl.create_default_context(cafile=info["ca_bundle"])
    with socket.create_connection(("127.0.0.1", info["https_port"]), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname="login.microsoftonline.com") as tls:
        der = tls.getpeercert(binary_form=True)
    assert der
    spki = x509.load_der_x509_certificate(der).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


class ChromiumSignIn:
    """``open_browser`` for Connect: a headless Chromium (in its own thread) signs in."""

    def __init__(self, info: dict[str, Any], upn: str, password: str) -> None:
        self.info, self.upn, self.password = info, upn, password
        self.errors: list[BaseException] = []
        self.final_text = ""
        self.thread: threading.Thread | None = None

    def __call__(self, url: str) -> None:
        self.thread = threading.Thread(target=self._run, args=(url,), daemon=True)
        self.thread.start()

    def _run(self, url: str) -> None:
        from playwright.sync_api import sync_playwright

        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=CHROMIUM,
                    args=[*ARGS, f"--ignore-certificate-errors-spki-list={_spki_pin(self.info)}"],
                    proxy={"server": self.info["proxy_url"], "bypass": "127.0.0.1,localhost"})
                try:
                    page = browser.new_page()
                    page.goto(url)
                    page.fill("#login", self.upn)
                    page.fill("#passwd", self.password)
                    page.click("#idSIButton9")
                    page.wait_for_url("http://127.0.0.1:*/**", timeout=15000)
                    self.final_text = page.content()
                finally:
                    browser.close()
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)


def test_auth_code_with_chromium_then_unattended(emulator: Any, tmp_path: Any) -> None:
    BotRun.set_current(BotRun(tmp_path / "run"))
    info = emulator.info
    tid = next(t["id"] for t in info["tenants"] if t["cloud"] == "global")
    pkce = next(a for a in info["apps"] if a["tenant_id"] == tid and a["name"] == "m365bot-pkce")
    alice = next(u for u in info["users"] if u["tenant_id"] == tid and u["upn"].startswith("alice"))
    settings = Settings(data_dir=tmp_path / "home", proxy=info["proxy_url"],
                        ca_bundle=info["ca_bundle"], timeout=20)
    vault = Vault.open(tmp_path / "vault.db", actor="bot")
    vault.initialize(key=new_raw_key())
    driver = ChromiumSignIn(info, alice["upn"], alice["password"])
    kw: dict[str, Any] = {"cloud": "global", "mode": "Authorization Code with PKCE",
                          "client_id": pkce["client_id"], "tenant_id": tid,
                          "username": alice["upn"], "redirect_url": "http://127.0.0.1:0",
                          "mailbox": "ops@contoso.onmicrosoft.com", "settings": settings,
                          "vault": vault}
    try:
        s = m365bot.connect(**kw, interactive=True, open_browser=driver,
                            session=m365bot.GlobalSession("mail"))
        assert driver.thread is not None
        driver.thread.join(30)
        assert not driver.errors, driver.errors
        assert s.identity == alice["upn"] and s.identity_type == "user"
        assert "Mail.ReadWrite.Shared" in s.permissions and s.mailbox == kw["mailbox"]
        m365bot.disconnect(s)
        # later runs are unattended, from the persisted sign-in: no browser, no token request
        emulator.control.clear()
        s = m365bot.connect(**kw, interactive=False)
        assert s.identity == alice["upn"]
        assert [r for r in emulator.control.requests() if r.get("role") == "login"] == []
        s.close()
    finally:
        vault.close()
        BotRun.set_current(None)

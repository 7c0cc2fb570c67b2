"""Headless Chromium for the browser tests: launch options and a sign-in driver.

Chromium does not trust the emulator's CA from a file, and ``ignore_https_errors`` would
accept anything. Instead Python verifies the served certificate against the emulator's CA,
and Chromium is told to accept exactly that certificate's public key
(``--ignore-certificate-errors-spki-list``): any other certificate still fails.

Example::

    with sync_playwright() as p:
        browser = p.chromium.launch(**launch_options(emulator.info))
"""

from __future__ import annotations

import base64
import hashlib
import socket
import ssl
import threading
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def verified_spki_pin(info: dict[str, Any]) -> str:
    """base64(SHA-256(SPKI)) of the emulator's certificate, after verifying it with its CA."""
    ctx = ssl.create_default_context(cafile=info["ca_bundle"])
    with (
        socket.create_connection(("127.0.0.1", info["https_port"]), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname="login.microsoftonline.com") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der
    spki = (
        x509.load_der_x509_certificate(der)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def launch_options(info: dict[str, Any], *, pinned: bool = True) -> dict[str, Any]:
    """Keyword arguments for ``p.chromium.launch``: Debian's Chromium through the emulator's
    proxy, trusting the emulator's certificate only when ``pinned``. Loopback redirects
    bypass the proxy (Playwright would proxy loopback too)."""
    args = [*ARGS]
    if pinned:
        args.append(f"--ignore-certificate-errors-spki-list={verified_spki_pin(info)}")
    return {
        "executable_path": CHROMIUM,
        "args": args,
        "proxy": {"server": info["proxy_url"], "bypass": "127.0.0.1,localhost"},
    }


class ChromiumSignIn:
    """``open_browser`` for AuthCodePkce/Connect: a headless Chromium, in its own thread,
    signs ``upn`` in on the emulator's page and waits for the loopback redirect."""

    def __init__(self, info: dict[str, Any], upn: str, password: str) -> None:
        self.info, self.upn, self.password = info, upn, password
        self.errors: list[BaseException] = []
        self.final_text = ""
        self.final_url = ""
        self.thread: threading.Thread | None = None

    @property
    def error(self) -> BaseException | None:
        """The first error the browser thread hit, or None."""
        return self.errors[0] if self.errors else None

    def __call__(self, url: str) -> None:
        self.thread = threading.Thread(target=self._run, args=(url,), daemon=True)
        self.thread.start()

    def _run(self, url: str) -> None:
        from playwright.sync_api import sync_playwright

        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(**launch_options(self.info))
                try:
                    page = browser.new_page()
                    page.goto(url)
                    page.fill("#login", self.upn)
                    page.fill("#passwd", self.password)
                    page.click("#idSIButton9")
                    page.wait_for_url("http://127.0.0.1:*/**", timeout=20000)
                    self.final_url = page.url
                    self.final_text = page.content()
                finally:
                    browser.close()
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)

"""Connect in "Authorization code with PKCE" mode with the sign-in page driven by a REAL
headless Chromium through the emulator's proxy mode. Chromium trusts exactly the emulator's
certificate (its SPKI pin, after Python verified it against the emulator's CA), never any
certificate. The second Connect is unattended, from the persisted sign-in."""

from __future__ import annotations

from typing import Any

import pytest

import m365bot
from browser_support import ChromiumSignIn
from m365bot.bots.run import BotRun
from m365bot.config import Settings
from m365bot.vault import Vault, new_raw_key

pytestmark = pytest.mark.browser


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

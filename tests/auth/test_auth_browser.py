"""AuthCodePkce with a real headless Chromium as the system browser: it signs in on the
emulator's page (through proxy mode, trusting exactly the emulator's verified key) and the
redirect lands on our loopback listener; the success page never shows the code."""

from __future__ import annotations

from typing import Any

import pytest

from browser_support import ChromiumSignIn
from m365bot.auth.modes import AuthCodePkce
from m365bot.config import Settings
from world_support import app, login_requests, user

pytestmark = pytest.mark.browser


def test_chromium_first_run_then_unattended(clean_emulator: Any, settings: Settings,
                                            vault: Any) -> None:
    alice = user(clean_emulator.info, "alice")
    a = app(clean_emulator.info, "m365bot-pkce")
    chromium = ChromiumSignIn(clean_emulator.info, alice["upn"], alice["password"])

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
    clean_emulator.control.clear()
    again = make(interactive=False).get_token()
    assert again.token == tok.token and login_requests(clean_emulator) == []

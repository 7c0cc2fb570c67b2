"""The whole journey in a real browser (Debian's headless Chromium through Playwright): an
administrator signs in and creates a GCC High OAuth connection inviting a role; a user of
that role opens My settings > OAuth connections, clicks Login and signs in on the
emulator's page; back in the Control Room the status is Active; a bot in another process
connects "Control Room managed" with a User-specific token and lists mail. The two OAuth
pages are photographed for docs/controlroom.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from oauth_support import PROVIDER, ROLE, oauth_server, pkce_app, stock_oauth

from browser_support import launch_options
from controlroom_support import ADMIN_PASSWORD, USER_PASSWORD
from m365bot.controlroom import apikeys
from m365bot.controlroom.db import Database
from plugins.canary import scan_output
from world_support import tenant, user

pytestmark = [pytest.mark.browser, pytest.mark.slow]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "controlroom"

BOT = textwrap.dedent("""
    import json, os, sys
    import m365bot
    from m365bot.config import Settings
    from m365bot.controlroom.remote import RemoteControlRoom

    settings = Settings(data_dir=sys.argv[2], proxy=os.environ["EMU_PROXY"],
                        ca_bundle=os.environ["EMU_CA"])
    session = m365bot.connect(
        cloud="Azure US GCC High", mode="Control Room managed", username=sys.argv[1],
        connection={"provider_type": "Microsoft 365 Outlook", "connection_name": "gov-mail",
                    "token_type": "User-specific"},
        settings=settings, connections=RemoteControlRoom.from_env(os.environ))
    subjects = [m.subject for m in session.mail.list("Inbox")]
    m365bot.disconnect(session)
    print(json.dumps({"identity": session.identity, "subjects": subjects}))
""")


def _sign_in(page: Any, url: str, name: str, password: str) -> None:
    page.goto(url + "/signin")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert page.url == url + "/", (page.url, page.content()[:3000])


def test_browser_journey_to_a_bot_on_another_process(clean_emulator: Any, vault_key: str,
                                                     tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    info = clean_emulator.info
    room = stock_oauth(str(tmp_path / "cr.db"), vault_key, info)
    gov_alice = user(info, "alice", "usgovhigh")
    with oauth_server(room, tmp_path / "server") as server, sync_playwright() as p:
        browser = p.chromium.launch(**launch_options(info))
        try:
            # 1. the administrator creates a GCC High connection and invites a role
            admin = browser.new_context(viewport={"width": 1200, "height": 700}).new_page()
            _sign_in(admin, server.url, "admin", ADMIN_PASSWORD)
            admin.get_by_role("link", name="Manage > OAuth connections").first.click()
            admin.get_by_role("link", name="Create connection").click()
            admin.get_by_label("Provider type").select_option(PROVIDER)
            admin.get_by_label("Connection name").fill("gov-mail")
            admin.get_by_label("Grant type").select_option("authorization_code")
            admin.get_by_label("Azure cloud").select_option(label="Azure US GCC High")
            admin.get_by_label("Tenant ID or domain").fill(tenant(info, "usgovhigh")["id"])
            admin.get_by_label("Client ID").fill(pkce_app(info, "usgovhigh")["client_id"])
            admin.get_by_label(ROLE).check()
            admin.get_by_role("button", name="Save changes", exact=True).click()
            assert "Saved." in admin.content()
            admin.get_by_role("link", name="Back to OAuth connections").click()
            row = admin.get_by_role("row", name="gov-mail")
            assert "Not connected" in row.inner_text() and ROLE in row.inner_text()
            admin.screenshot(path=str(DOCS / "manage-oauth-connections.png"))

            # 2-4. the user logs in on the emulator's page: status Active
            page = browser.new_context(viewport={"width": 1200, "height": 600}).new_page()
            _sign_in(page, server.url, room.alice, USER_PASSWORD)
            page.get_by_role("link", name="My settings > OAuth connections").first.click()
            assert "Not connected" in page.get_by_role("row", name="gov-mail").inner_text()
            page.get_by_role("button", name="Login to gov-mail").click()
            page.wait_for_url("https://login.microsoftonline.us/**")
            page.fill("#login", gov_alice["upn"])
            page.fill("#passwd", gov_alice["password"])
            page.click("#idSIButton9")
            page.wait_for_url(server.url + "/settings/oauth-connections**")
            assert "your token is Active" in page.content()
            cells = page.get_by_role("row", name="gov-mail").get_by_role("cell")
            assert cells.nth(4).inner_text() == "Active"
            page.screenshot(path=str(DOCS / "my-settings-oauth-connections.png"))
        finally:
            browser.close()

        # 5. a bot on another process, as alice's runner, lists alice's GCC High mail
        database = Database.open(room.db)
        _, key = apikeys.create(database, "gov-runner", run_as=room.alice, bots="*",
                                roles_=[ROLE], by="test")
        database.dispose()
        env = {**os.environ, "M365BOT_CONTROLROOM_URL": server.url,
               "M365BOT_CONTROLROOM_API_KEY": key.reveal(), "EMU_PROXY": info["proxy_url"],
               "EMU_CA": info["ca_bundle"]}
        r = subprocess.run([sys.executable, "-c", BOT, gov_alice["upn"],
                            str(tmp_path / "bot")], capture_output=True, text=True, env=env,
                           timeout=120)
        scan_output(r.stdout + r.stderr, "journey bot")
        assert r.returncode == 0, r.stderr
        done = json.loads(r.stdout)
        assert done["identity"] == gov_alice["upn"]
        assert "Welcome to Fabrikam" in done["subjects"]

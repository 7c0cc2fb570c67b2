"""The Control Room's pages in headless Chromium: sign in by the labelled fields, the
stylesheet loads under the CSP, an administrator creates a role, and signs out; no
script, no CSP violation."""

from __future__ import annotations

import pytest

from browser_support import ARGS, CHROMIUM
from controlroom_support import ADMIN_PASSWORD, Server

pytestmark = pytest.mark.browser


def test_an_admin_signs_in_creates_a_role_and_signs_out_in_chromium(
        cr_server: Server) -> None:
    from playwright.sync_api import sync_playwright

    console: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page()
            page.on("console", lambda m: console.append(m.text))
            page.goto(f"{cr_server.url}/admin/roles")
            assert page.url.startswith(f"{cr_server.url}/signin?next=")
            page.get_by_label("User name").fill("admin")
            page.get_by_label("Password").fill(ADMIN_PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{cr_server.url}/admin/roles")  # back where we were going
            # The stylesheet applied: the CSP allows 'self' styles.
            background = page.eval_on_selector(
                "header", "e => getComputedStyle(e).backgroundColor")
            assert background == "rgb(31, 58, 95)"
            page.get_by_label("Role name").fill("payroll-bots")
            page.get_by_label("Description").fill("Bots of the payroll team")
            page.get_by_role("button", name="Create role").click()
            assert page.get_by_role("status").inner_text() == "Role payroll-bots created."
            assert page.get_by_role("row", name="payroll-bots").count() == 1
            page.get_by_role("button", name="Sign out").click()
            page.wait_for_url(f"{cr_server.url}/signin")
            page.goto(f"{cr_server.url}/admin/roles")
            assert "/signin" in page.url  # the session is gone
        finally:
            browser.close()
    assert not [m for m in console if "Content Security Policy" in m or "Refused" in m]

"""Manage > OAuth connections and My settings > OAuth connections on a served Control Room,
driven like a browser without JavaScript (forms, redirects, the emulator's sign-in pages):
an administrator creates a GCC High connection and invites a role; the invited user logs in
for their own token; a client-credentials connection is saved and tested."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from oauth_support import ROLE, oauth_server, pkce_app, stock_oauth

from auth_support import sign_in_location
from controlroom_support import ADMIN_PASSWORD, USER_PASSWORD, PageClient, alert_of
from world_support import app, secret_of, tenant, user


def _row(page: str, name: str) -> str:
    m = re.search(rf"<tr[^>]*>(?:(?!</tr>).)*>{re.escape(name)}<(?:(?!</tr>).)*</tr>", page,
                  re.S)
    assert m, f"no row for {name}"
    return m.group(0)


def _login(client: PageClient, info: dict[str, Any], action: str, who: str,
           cloud: str) -> Any:
    """Press a Login button, sign in on the emulator, come back to the Control Room."""
    r = client.post_form(action, {})
    assert r.status_code == 303, (r.status_code, alert_of(r.text))
    u = user(info, who, cloud)
    back = sign_in_location(info, r.headers["location"], u["upn"], u["password"])
    assert back.startswith(str(client.base_url) + "/callback?")
    r = client.get(back.removeprefix(str(client.base_url)))
    assert r.status_code == 303, (r.status_code, alert_of(r.text))
    return client.get(r.headers["location"])


def test_admin_creates_gcc_high_connection_and_user_logs_in(
        clean_emulator: Any, vault_key: str, tmp_path: Path) -> None:
    info = clean_emulator.info
    room = stock_oauth(str(tmp_path / "cr.db"), vault_key, info)
    with oauth_server(room, tmp_path / "server") as server:
        admin = server.sign_in("admin", ADMIN_PASSWORD)
        r = admin.post_form("/manage/oauth-connections/new", {
            "provider_type": "Microsoft 365 Outlook", "name": "gov-mail", "cloud": "gcchigh",
            "tenant": tenant(info, "usgovhigh")["id"], "grant_type": "authorization_code",
            "client_id": pkce_app(info, "usgovhigh")["client_id"], "scopes": "",
            "roles": ROLE, "action": "save"}, from_page="/manage/oauth-connections/new")
        assert r.status_code == 303, alert_of(r.text)
        edit = admin.get(r.headers["location"]).text
        assert 'value="https://login.microsoftonline.us/' in edit  # the URLs filled in
        listing = admin.get("/manage/oauth-connections?q=gov").text
        row = _row(listing, "gov-mail")
        assert "Microsoft 365 Outlook" in row and "Azure US GCC High" in row and ROLE in row
        assert "Not connected" in row

        alice = server.sign_in(room.alice, USER_PASSWORD)
        mine = alice.get("/settings/oauth-connections").text
        assert "Not connected" in _row(mine, "gov-mail") and ">Login<" in mine
        cid = re.search(r'/settings/oauth-connections/(\d+)/login', mine).group(1)  # type: ignore[union-attr]
        page = _login(alice, info, f"/settings/oauth-connections/{cid}/login", "alice",
                      "usgovhigh")
        assert "Connected gov-mail: your token is Active." in html.unescape(page.text)
        row = _row(page.text, "gov-mail")
        assert re.search(r'my-status">Active<', row) and "Not connected" in row  # Shared not

        bob = server.sign_in(room.bob, USER_PASSWORD)  # no invited role
        assert "gov-mail" not in bob.get("/settings/oauth-connections").text
        r = bob.post_form(f"/settings/oauth-connections/{cid}/login", {})
        assert r.status_code == 404 and "shared with you" in alert_of(r.text)
        assert alice.get("/manage/oauth-connections").status_code == 403


def test_client_credentials_connection_saved_and_tested(
        clean_emulator: Any, vault_key: str, tmp_path: Path, register_canary: Any) -> None:
    info = clean_emulator.info
    room = stock_oauth(str(tmp_path / "cr.db"), vault_key, info)
    a = app(info)
    form = {"provider_type": "Microsoft 365 Outlook", "name": "app-mail", "cloud": "global",
            "tenant": a["tenant_id"], "grant_type": "client_credentials",
            "client_id": a["client_id"], "client_secret": secret_of(a), "roles": ROLE,
            "action": "test"}
    with oauth_server(room, tmp_path / "server") as server:
        admin = server.sign_in("admin", ADMIN_PASSWORD)
        r = admin.post_form("/manage/oauth-connections/new", form,
                            from_page="/manage/oauth-connections/new")
        assert r.status_code == 303, alert_of(r.text)
        page = admin.get(r.headers["location"]).text
        assert "Saved and tested: the Shared token is Active." in html.unescape(page)
        assert secret_of(a) not in page  # the secret is never shown back
        assert "Active" in _row(admin.get("/manage/oauth-connections").text, "app-mail")
        # a wrong secret: the test fails with the provider's reason, the page says so
        edit = r.headers["location"]
        wrong = register_canary("CANARY-wrong-app-secret")
        r = admin.post_form(edit, dict(form, client_secret=wrong), from_page=edit)
        assert r.status_code == 400 and "its test failed" in alert_of(r.text)
        assert "7000215" in alert_of(r.text) or "secret" in alert_of(r.text).lower()

        # a Custom connection whose secret comes from the Credential Vault, read as the admin
        from m365bot.vault import AttributeSpec, Vault

        vault = Vault.open(room.db, actor="admin")
        vault.unlock(key=vault_key)
        vault.create_locker("apps")
        vault.set_credential("apps", "demo", {"client_secret": AttributeSpec(secret_of(a))})
        vault.close()
        token_url = f"https://login.microsoftonline.com/{a['tenant_id']}/oauth2/v2.0/token"
        custom = {"provider_type": "Custom", "name": "custom-app", "token_url": token_url,
                  "grant_type": "client_credentials", "client_id": a["client_id"],
                  "scopes": "https://graph.microsoft.com/.default", "roles": ROLE,
                  "action": "test"}
        r = admin.post_form("/manage/oauth-connections/new",
                            dict(custom, client_secret_credential="apps/demo/nope"),
                            from_page="/manage/oauth-connections/new")
        assert r.status_code == 400 and "Credential Vault" in alert_of(r.text)
        r = admin.post_form("/manage/oauth-connections/new",
                            dict(custom, client_secret_credential="apps/demo/client_secret"))
        assert r.status_code == 303, alert_of(r.text)
        assert "Active" in _row(admin.get("/manage/oauth-connections").text, "custom-app")

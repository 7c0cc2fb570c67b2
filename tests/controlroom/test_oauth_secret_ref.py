"""A connection's client secret from the Credential Vault is kept as its reference (locker,
credential, attribute) and read by the served Control Room at each token request: a secret
rotated in the vault is used at the next one without editing the connection; a locked vault
or a deleted credential is said plainly (status, page, the broker's answer) with what to fix;
no page, answer or log carries the value; a database from before keeps its copied secret.
A confidential web app's sign-in (code redemption) and each renewal of a user's token read
it from the vault too."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from oauth_support import PROVIDER, ROLE, Room, oauth_server, pkce_app, stock_oauth
from sqlalchemy import select, text

from auth_support import sign_in_location
from controlroom_support import ADMIN_PASSWORD, USER_PASSWORD, PageClient, alert_of
from m365bot.controlroom.db import Database, current_revision, engine_for
from m365bot.controlroom.oauth_tables import oauth_connections
from m365bot.vault import AttributeSpec, Vault
from m365bot.vault.keys import new_raw_key
from plugins.canary import register_canary, scan_output
from world_support import app, secret_of, user

NEW = "/manage/oauth-connections/new"
REF = "apps/demo/client_secret"
VAULT_SUBJECT = f"oauth connection {PROVIDER}/app-mail"


def _form(info: dict[str, Any], **changes: str) -> dict[str, str]:
    a = app(info)
    return {"provider_type": PROVIDER, "name": "app-mail", "cloud": "global",
            "tenant": a["tenant_id"], "grant_type": "client_credentials",
            "client_id": a["client_id"], "client_secret": "", "client_secret_credential": REF,
            "roles": ROLE, "action": "test", **changes}


@contextmanager
def _vault_with_secret(room: Room, value: str) -> Iterator[Vault]:
    """The server's vault opened by the administrator (owner of locker "apps"), holding the
    client secret at apps/demo/client_secret."""
    vault = Vault.open(room.db, actor="admin")
    try:
        vault.unlock(key=room.vault_key)
        vault.create_locker("apps")
        vault.set_credential("apps", "demo", {"client_secret": AttributeSpec(value)})
        yield vault
    finally:
        vault.close()


@contextmanager
def _entra_secrets(emulator: Any, client_id: str) -> Iterator[list[Any]]:
    """The emulator app's secrets, put back after the test (the emulator is shared)."""
    secrets = emulator.state.apps[client_id].secrets
    kept = list(secrets)
    try:
        yield secrets
    finally:
        secrets[:] = kept


@contextmanager
def _web_app(emulator: Any, client_id: str, pkce_client_id: str) -> Iterator[None]:
    """The demo app (confidential: it signs in with a client secret) also registered as a
    web app for this test: loopback redirect URIs and the PKCE app's consented delegated
    permissions, as an RPA platform's Authorization Code connection usually has. Put back
    afterwards (the emulator is shared)."""
    a = emulator.state.apps[client_id]
    kept = (list(a.redirect_uris), dict(a.delegated_permissions))
    try:
        a.redirect_uris[:] = ["http://127.0.0.1/callback"]
        a.delegated_permissions.update(emulator.state.apps[pkce_client_id].delegated_permissions)
        yield
    finally:
        a.redirect_uris[:] = kept[0]
        a.delegated_permissions.clear()
        a.delegated_permissions.update(kept[1])


def _user_login(client: PageClient, info: dict[str, Any], cid: str, who: str) -> str:
    """My settings > OAuth connections > Login: sign in on the emulator, come back to the
    Control Room (which redeems the code); the page's flash message."""
    r = client.post_form(f"/settings/oauth-connections/{cid}/login", {})
    assert r.status_code == 303, (r.status_code, alert_of(r.text))
    u = user(info, who)
    back = sign_in_location(info, r.headers["location"], u["upn"], u["password"])
    assert back.startswith(str(client.base_url) + "/callback?"), back
    r = client.get(back.removeprefix(str(client.base_url)))
    assert r.status_code == 303, (r.status_code, alert_of(r.text))
    page = client.get(r.headers["location"]).text
    scan_output(page, "my connections page")
    m = re.search(r'class="flash[^"]*"[^>]*>([^<]*)<', page)
    return html.unescape(m.group(1)) if m else ""


def _stored_secret(db: str, name: str) -> tuple[Any, ...]:
    """The connection row's secret columns: sealed value, locker, credential, attribute."""
    database = Database.open(db)
    try:
        with database.read() as c:
            c_ = oauth_connections.c
            return tuple(c.execute(select(c_.client_secret, c_.client_secret_locker,
                                          c_.client_secret_credential,
                                          c_.client_secret_attribute)
                                   .where(c_.name == name)).one())
    finally:
        database.dispose()


def _expire_shared(room: Room) -> None:
    """The Shared token expires: the next request makes the broker ask Entra again."""
    with room.store() as store:
        store.repo.set_slot(store.repo.get(PROVIDER, "app-mail").id, "", expires_on=1.0)


def _token(server: Any, room: Room, token_type: str = "Shared") -> httpx.Response:
    """The broker's answer to the runner (it runs as alice) for app-mail's token."""
    r = httpx.post(server.url + "/api/v1/oauth/token",
                   json={"provider_type": PROVIDER, "connection_name": "app-mail",
                         "token_type": token_type},
                   headers={"Authorization": f"Bearer {room.api_key.reveal()}"}, timeout=30)
    scan_output(r.text, "broker answer")
    return r


def _status_cell(page: str) -> str:
    m = re.search(r">app-mail<(?:(?!</tr>).)*class=\"status\">([^<]*)<", page, re.S)
    assert m, "no row for app-mail"
    return html.unescape(m.group(1))


def test_secret_rotated_in_the_vault_is_used_at_the_next_token_request(
        clean_emulator: Any, vault_key: str, tmp_path: Path) -> None:
    info = clean_emulator.info
    room = stock_oauth(str(tmp_path / "cr.db"), vault_key, info)
    a = app(info)
    old, new = secret_of(a), register_canary("CANARY-rotated-client-secret-Q8x")
    with _vault_with_secret(room, old) as vault, \
            _entra_secrets(clean_emulator, a["client_id"]) as entra, \
            oauth_server(room, tmp_path / "server") as server:
        admin = server.sign_in("admin", ADMIN_PASSWORD)
        r = admin.post_form(NEW, _form(info), from_page=NEW)
        assert r.status_code == 303, alert_of(r.text)
        edit = admin.get(r.headers["location"]).text
        scan_output(edit, "edit page")
        assert "Saved and tested: the Shared token is Active." in html.unescape(edit)
        assert f'value="{REF}"' in edit  # the page shows the reference, never a value
        # the row keeps the reference only: no value, not even sealed
        assert _stored_secret(room.db, "app-mail") == (None, "apps", "demo", "client_secret")

        # rotation: a new secret at Entra and in the vault, then the old one revoked
        from m365bot.emulator.state import AppSecret

        entra.append(AppSecret(id="5c1e0a2b-0000-4000-8000-00000000beef", value=new,
                               expires=time.time() + 86400))
        vault.set_attribute("apps", "demo", "client_secret", new)
        entra[:] = [s for s in entra if s.value != old]
        _expire_shared(room)
        r = _token(server, room)
        assert r.status_code == 200, r.text  # with the copied old secret: 409, refused
        assert "Active" in _status_cell(admin.get("/manage/oauth-connections").text)

        # who read it: the administrator when saving, the server itself for each token
        reads = [(e.actor, e.subject, e.outcome) for e in vault.audit_log(locker="apps")
                 if e.action == "value.read"]
        assert ("admin", "", "ok") in reads
        assert reads.count(("controlroom", VAULT_SUBJECT, "ok")) == 2  # the test, the renewal
        assert all(actor in ("admin", "controlroom") for actor, _, _ in reads)


def test_a_sign_in_and_each_renewal_read_the_secret_from_the_vault(
        clean_emulator: Any, vault_key: str, tmp_path: Path) -> None:
    """Authorization Code with a confidential app: the code is redeemed and the user's token
    renewed with the client secret read from the vault at that moment, so a rotation needs
    no edit; a secret that cannot be read fails the sign-in with what to fix."""
    info = clean_emulator.info
    room = stock_oauth(str(tmp_path / "cr.db"), vault_key, info)
    a = app(info)
    old, new = secret_of(a), register_canary("CANARY-rotated-web-app-secret-T3k")
    with _web_app(clean_emulator, a["client_id"], pkce_app(info)["client_id"]), \
            _vault_with_secret(room, old) as vault, \
            _entra_secrets(clean_emulator, a["client_id"]) as entra, \
            oauth_server(room, tmp_path / "server") as server:
        admin = server.sign_in("admin", ADMIN_PASSWORD)
        r = admin.post_form(NEW, _form(info, grant_type="authorization_code", scopes="",
                                       action="save"), from_page=NEW)
        assert r.status_code == 303, alert_of(r.text)
        assert _stored_secret(room.db, "app-mail") == (None, "apps", "demo", "client_secret")
        cid = re.search(r"/oauth-connections/(\d+)", r.headers["location"]).group(1)  # type: ignore[union-attr]

        # the sign-in's code is redeemed with the secret read from the vault
        alice = server.sign_in(room.alice, USER_PASSWORD)
        assert _user_login(alice, info, cid, "alice") == \
            "Connected app-mail: your token is Active."
        assert _token(server, room, "User-specific").status_code == 200

        # rotation: the renewal of alice's token reads the new secret (the old one is revoked)
        from m365bot.emulator.state import AppSecret

        entra.append(AppSecret(id="5c1e0a2b-0000-4000-8000-00000000cafe", value=new,
                               expires=time.time() + 86400))
        vault.set_attribute("apps", "demo", "client_secret", new)
        entra[:] = [s for s in entra if s.value != old]
        with room.store() as store:
            store.repo.set_slot(store.repo.get(PROVIDER, "app-mail").id, room.alice,
                                expires_on=1.0)
        r = _token(server, room, "User-specific")
        assert r.status_code == 200, r.text  # renewed: a copied old secret would be refused

        # the credential is gone: the next sign-in fails and says what to fix, no code is
        # redeemed without a secret
        vault.delete_credential("apps", "demo")
        flash = _user_login(alice, info, cid, "alice")
        assert flash.startswith(f"Login failed: connection {PROVIDER}/app-mail: its client "
                                f"secret is read from the Credential Vault ({REF})"), flash
        assert "no credential 'demo'" in flash and f"Fix: restore {REF}" in flash

        reads = [(e.actor, e.subject, e.outcome) for e in vault.audit_log(locker="apps")
                 if e.action == "value.read"]
        # saving read it as the administrator; the redemption and the renewal as the server
        assert reads.count(("controlroom", VAULT_SUBJECT, "ok")) == 2, reads
        assert ("admin", "", "ok") in reads
    assert "Traceback" not in server.stop()


def test_vault_locked_or_credential_deleted_says_what_to_fix(
        clean_emulator: Any, vault_key: str, tmp_path: Path) -> None:
    info = clean_emulator.info
    room = stock_oauth(str(tmp_path / "cr.db"), vault_key, info)
    a = app(info)
    with _vault_with_secret(room, secret_of(a)) as vault, \
            oauth_server(room, tmp_path / "server") as server:
        admin = server.sign_in("admin", ADMIN_PASSWORD)
        r = admin.post_form(NEW, _form(info), from_page=NEW)
        assert r.status_code == 303, alert_of(r.text)
        edit_url = r.headers["location"]

        # the credential is deleted: the broker says which reference and what to do
        vault.delete_credential("apps", "demo")
        _expire_shared(room)
        r = _token(server, room)
        assert r.status_code == 409, r.text
        answer = r.json()
        assert answer["code"] == "client_secret_unavailable"
        assert f"Credential Vault ({REF})" in answer["error"]
        assert "no credential 'demo'" in answer["error"]
        assert f"restore {REF} in the Credential Vault" in answer["fix"]
        assert "Manage > OAuth connections ('app-mail'" in answer["fix"]
        # ... and so do the connection's status and its edit page
        listing = admin.get("/manage/oauth-connections").text
        scan_output(listing, "connections page")
        assert _status_cell(listing) == \
            f"Expired (client secret unavailable from the Credential Vault: {REF})"
        edit = html.unescape(admin.get(edit_url).text)
        scan_output(edit, "edit page")
        assert "could not be read from the Credential Vault the last time" in edit
        assert "no credential 'demo'" in edit
        # "Save changes and test connection" says it too
        r = admin.post_form(edit_url, _form(info), from_page=edit_url)
        assert r.status_code == 400
        alert = html.unescape(alert_of(r.text))
        assert "its test failed" in alert and f"Credential Vault ({REF})" in alert
        assert "no credential 'demo'" in alert and f"Fix: restore {REF}" in alert

        # restored: the next request reads it again, without editing the connection
        vault.set_credential("apps", "demo", {"client_secret": AttributeSpec(secret_of(a))})
        assert _token(server, room).status_code == 200
        assert _status_cell(admin.get("/manage/oauth-connections").text) == "Active"

        # the vault's master key rotated elsewhere: this server's vault no longer opens it
        vault.rotate_master_key(key=new_raw_key())
        _expire_shared(room)
        r = _token(server, room)
        assert r.status_code == 409, r.text
        answer = r.json()
        assert "the Credential Vault is locked on this Control Room server" in answer["error"]
        assert REF in answer["error"]
        assert answer["fix"].startswith("restart the Control Room server with the vault's "
                                        "current key")
        assert _status_cell(admin.get("/manage/oauth-connections").text).startswith("Expired")
    assert "Traceback" not in server.stop()


def test_edit_keeps_the_reference_and_switches_between_typed_and_vault(
        clean_emulator: Any, vault_key: str, tmp_path: Path) -> None:
    info = clean_emulator.info
    room = stock_oauth(str(tmp_path / "cr.db"), vault_key, info)
    a = app(info)
    with _vault_with_secret(room, secret_of(a)), \
            oauth_server(room, tmp_path / "server") as server:
        admin = server.sign_in("admin", ADMIN_PASSWORD)
        r = admin.post_form(NEW, _form(info, action="save"), from_page=NEW)
        assert r.status_code == 303, alert_of(r.text)
        edit_url = r.headers["location"].split("?")[0]
        # an edit that leaves the reference as shown keeps it
        r = admin.post_form(edit_url, _form(info, action="save", scopes=""), from_page=edit_url)
        assert r.status_code == 303, alert_of(r.text)
        assert _stored_secret(room.db, "app-mail") == (None, "apps", "demo", "client_secret")
        # a typed secret replaces the reference ...
        r = admin.post_form(edit_url, _form(info, client_secret=secret_of(a)),
                            from_page=edit_url)
        assert r.status_code == 303, alert_of(r.text)
        sealed, *ref = _stored_secret(room.db, "app-mail")
        assert sealed is not None and ref == [None, None, None]
        page = admin.get(edit_url).text
        scan_output(page, "edit page")
        assert 'name="client_secret_credential" type="text" size="50" value=""' in page
        assert "A secret is kept; leave empty to keep it." in page
        # ... which an edit with both fields empty keeps (client credentials need one)
        r = admin.post_form(edit_url, _form(info, client_secret_credential="", action="test"),
                            from_page=edit_url)
        assert r.status_code == 303, alert_of(r.text)
        assert _stored_secret(room.db, "app-mail")[0] is not None
        # and back to the vault
        r = admin.post_form(edit_url, _form(info), from_page=edit_url)
        assert r.status_code == 303, alert_of(r.text)
        assert _stored_secret(room.db, "app-mail") == (None, "apps", "demo", "client_secret")
        # a reference the administrator may not read is refused when saved
        r = admin.post_form(edit_url, _form(info, client_secret_credential="apps/demo/nope"),
                            from_page=edit_url)
        assert r.status_code == 400 and "apps/demo/nope" in alert_of(r.text)
        assert _stored_secret(room.db, "app-mail") == (None, "apps", "demo", "client_secret")


def test_upgrade_keeps_a_connection_with_a_copied_secret_working(
        clean_emulator: Any, settings: Any, vault_key: str, cr_db_any: str) -> None:
    """A database of the previous release (cr0002) whose connection holds its client secret
    copied (sealed) into the row: the upgrade keeps it, and it still obtains tokens."""
    from alembic import command

    from m365bot.controlroom.db import _alembic_config
    from m365bot.controlroom.sealing import TokenSealer
    from m365bot.controlroom.store import ConnectionStore
    from m365bot.vault.keys import MasterKeySource

    info = clean_emulator.info
    a = app(info)
    Vault.open(cr_db_any, actor="controlroom").initialize(key=vault_key)
    engine = engine_for(cr_db_any)
    sealer = TokenSealer.from_master(MasterKeySource.from_key(vault_key))
    try:
        cfg = _alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "cr0002")
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO cr_oauth_connections (id, key, provider_type, name, cloud, "
                "grant_type, client_id, authorization_url, token_url, scopes, client_secret, "
                "created_at, updated_at, updated_by) VALUES (1, :key, :p, 'app-mail', "
                "'global', 'client_credentials', :cid, '', :url, :scope, :sealed, :t, :t, "
                "'admin')"),
                {"key": f"{PROVIDER.lower()}|app-mail", "p": PROVIDER, "cid": a["client_id"],
                 "url": f"https://login.microsoftonline.com/{a['tenant_id']}/oauth2/v2.0/token",
                 "scope": "https://graph.microsoft.com/.default",
                 "sealed": sealer.seal(secret_of(a).encode(), "secret", 1),
                 "t": "2026-01-01 00:00:00+00:00"})
        assert current_revision(engine) == "cr0002"
    finally:
        engine.dispose()
    database = Database.open(cr_db_any)  # upgrades
    try:
        engine = engine_for(cr_db_any)
        assert current_revision(engine) == "cr0003"
        engine.dispose()
        store = ConnectionStore(None, db=database, sealer=sealer)
        assert store.login(PROVIDER, "app-mail", token_type="shared",
                           settings=settings) == "Active"
        stored = store.repo.get(PROVIDER, "app-mail")
        assert stored.conn.client_secret_ref is None and stored.has_secret
        store.repo.set_slot(stored.id, "", expires_on=1.0)  # the broker renews with it
        source = store.token_source(PROVIDER, "app-mail", token_type="shared", user="",
                                    settings=settings)
        assert source.get_token().expires_in() > 600
    finally:
        database.dispose()

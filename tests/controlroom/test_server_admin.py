"""Administration pages on a served Control Room: users, roles, API keys."""

from __future__ import annotations

import re

from sqlalchemy import select

from controlroom_support import ADMIN_PASSWORD, USER_PASSWORD, Server, alert_of
from m365bot.controlroom import apikeys
from m365bot.controlroom.db import Database, api_keys

NEW_PASSWORD = "CANARY-bob-pass-778899"


def test_admin_creates_a_user_who_signs_in_and_gets_a_role(cr_server: Server) -> None:
    admin = cr_server.sign_in("admin", ADMIN_PASSWORD)
    r = admin.post_form("/admin/users", {"name": "bob", "password": NEW_PASSWORD,
                                         "password2": NEW_PASSWORD}, from_page="/admin/users")
    assert r.status_code == 200 and "User bob created." in r.text
    r = admin.post_form("/admin/roles", {"name": "finance", "description": "Finance bots"},
                        from_page="/admin/roles")
    assert r.status_code == 200 and "Role finance created." in r.text
    r = admin.post_form("/admin/users/bob", {"action": "add_role", "role": "finance"},
                        from_page="/admin/users")
    assert r.status_code == 200
    assert "bob" in admin.get("/admin/roles").text.split("finance", 1)[1]
    bob = cr_server.sign_in("bob", NEW_PASSWORD)
    assert bob.get("/").status_code == 200
    # bob is no administrator.
    assert bob.get("/admin/users").status_code == 403
    # Disabling bob ends his session at once.
    admin.post_form("/admin/users/bob", {"action": "disable"}, from_page="/admin/users")
    assert bob.get("/").status_code == 303


def test_the_last_administrator_cannot_be_demoted(cr_server: Server) -> None:
    admin = cr_server.sign_in("admin", ADMIN_PASSWORD)
    r = admin.post_form("/admin/users/admin", {"action": "remove_admin"},
                        from_page="/admin/users")
    assert r.status_code == 409 and "last active administrator" in alert_of(r.text)
    assert admin.get("/admin/users").status_code == 200


def test_an_api_key_is_shown_once_stored_hashed_and_revocable(cr_server: Server) -> None:
    admin = cr_server.sign_in("admin", ADMIN_PASSWORD)
    r = admin.post_form("/admin/api-keys", {"name": "runner-1", "run_as": "alice",
                                            "bots": "payroll, invoices", "roles": ""},
                        from_page="/admin/api-keys")
    assert r.status_code == 201
    key = re.search(r"m365cr_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}", r.text)
    assert key, "the new key is shown"
    # Shown once: the list never shows it again.
    assert key.group(0) not in admin.get("/admin/api-keys").text
    db = Database.open(cr_server.db)
    try:
        with db.read() as conn:
            stored = conn.execute(select(api_keys)).one()
        assert key.group(0).split("_")[2] not in str(tuple(stored))  # only a hash
        checked = apikeys.check(db, key.group(0))
        assert checked is not None and checked.may_run("payroll")
        assert not checked.may_run("other")
        r = admin.post_form("/admin/api-keys/runner-1/revoke", {}, from_page="/admin/api-keys")
        assert r.status_code == 200 and "revoked" in r.text
        assert apikeys.check(db, key.group(0)) is None
    finally:
        db.dispose()


def test_a_user_cannot_sign_in_with_the_old_password_after_a_reset(cr_server: Server) -> None:
    admin = cr_server.sign_in("admin", ADMIN_PASSWORD)
    r = admin.post_form("/admin/users/alice", {"action": "password", "password": NEW_PASSWORD,
                                               "password2": NEW_PASSWORD},
                        from_page="/admin/users")
    assert r.status_code == 200
    old = cr_server.client().post_form("/signin", {"name": "alice", "password": USER_PASSWORD},
                                       from_page="/signin")
    assert old.status_code == 401
    assert cr_server.sign_in("alice", NEW_PASSWORD).get("/").status_code == 200

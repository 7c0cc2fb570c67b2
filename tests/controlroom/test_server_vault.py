"""The Credential Vault in a served Control Room: locker roles enforced per signed-in user,
Credential requests, and values only over the runner API for a bot the key may run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from controlroom_support import (
    ADMIN_PASSWORD,
    USER_PASSWORD,
    Server,
    alert_of,
    served_controlroom,
    stock_users,
)
from m365bot.controlroom import accounts, apikeys
from m365bot.controlroom.db import Database
from m365bot.vault import new_raw_key

SECRET = "CANARY-vault-client-secret-91"
BOB_VALUE = "CANARY-bob-own-password-92"
OTHERS = "CANARY-others-pass-93"


@pytest.fixture
def vault_server(cr_db_any: str, tmp_path: Path) -> Iterator[tuple[Server, Database]]:
    """A served Control Room (on SQLite, then on PostgreSQL) with its vault unlocked; users
    admin, alice, bob (role payroll-bots) and carol; the database open for direct set-up."""
    stock_users(cr_db_any)
    cr_db = cr_db_any
    db = Database.open(cr_db)
    for name in ("bob", "carol"):
        accounts.create_user(db, name, OTHERS, by="test")
    accounts.create_role(db, "payroll-bots", by="test")
    accounts.assign_role(db, "bob", "payroll-bots", by="test")
    with served_controlroom(cr_db, tmp_path / "server",
                            env={"M365BOT_VAULT_KEY": new_raw_key()}) as server:
        yield server, db
    db.dispose()


def _api(server: Server, key: str, path: str) -> httpx.Response:
    return httpx.get(f"{server.url}/api/v1/credentials/{path}",
                     headers={"authorization": f"Bearer {key}"}, timeout=30)


def test_locker_roles_are_enforced_per_user_and_values_reach_only_the_runner(
        vault_server: tuple[Server, Database]) -> None:
    server, db = vault_server
    pages: list[str] = []
    alice = server.sign_in("alice", USER_PASSWORD)
    r = alice.post_form("/vault/lockers", {"name": "finance"}, from_page="/vault/lockers")
    assert r.status_code == 200 and "Locker finance created." in r.text
    loc = "/vault/locker?name=finance"
    for data in ({"credential": "o365", "attribute": "client_secret", "value": SECRET,
                  "masked": "on"},
                 {"credential": "o365", "attribute": "password", "user_provided": "on"}):
        r = alice.post_form("/vault/locker/credentials", {"locker": "finance", **data},
                            from_page=loc)
        assert r.status_code == 200, alert_of(r.text)
    for kind, member, role in (("role", "payroll-bots", "consumer"),
                               ("user", "carol", "participant")):
        r = alice.post_form("/vault/locker/members", {"locker": "finance", "kind": kind,
                                                      "member": member, "role": role},
                            from_page=loc)
        assert r.status_code == 200, alert_of(r.text)
    pages.append(alice.get(loc).text)
    assert "client_secret" in pages[-1] and "role:payroll-bots" in pages[-1]

    # bob, a consumer through his role: sees the credential, never its value, cannot set it.
    bob = server.sign_in("bob", OTHERS)
    pages.append(bob.get(loc).text)
    assert "o365" in pages[-1] and "/vault/locker/values" not in pages[-1]
    r = bob.post_form("/vault/locker/values", {"locker": "finance", "credential": "o365",
                                               "attribute": "client_secret",
                                               "value": "CANARY-overwrite-94"}, from_page=loc)
    assert r.status_code == 403 and "may not change standard attribute" in alert_of(r.text)
    # ... and fills in his own user-provided value under Credential requests.
    pages.append(bob.get("/vault/requests").text)
    assert "finance" in pages[-1] and "waiting" in pages[-1]
    r = bob.post_form("/vault/requests", {"locker": "finance", "credential": "o365",
                                          "attribute": "password", "value": BOB_VALUE},
                      from_page="/vault/requests")
    assert r.status_code == 200 and "filled in" in r.text

    # carol, a participant: her own credential only.
    carol = server.sign_in("carol", OTHERS)
    r = carol.post_form("/vault/locker/credentials", {"locker": "finance",
                                                      "credential": "carols", "attribute":
                                                      "token", "value": OTHERS},
                        from_page=loc)
    assert r.status_code == 200, alert_of(r.text)
    pages.append(carol.get(loc).text)
    assert "carols" in pages[-1] and "o365" not in pages[-1]
    pages.append(alice.get(loc).text)
    assert "carols" in pages[-1]  # the owner sees every credential
    # The admin, no member of the locker, cannot open it.
    admin = server.sign_in("admin", ADMIN_PASSWORD)
    assert admin.get(loc).status_code == 404

    # The runner API: a key for bots running as bob.
    _, key = apikeys.create(db, "runner-1", run_as="bob", bots=["payroll"], by="test")
    r = _api(server, key.reveal(), "finance/o365/client_secret?bot=payroll")
    assert r.status_code == 200 and r.json()["value"] == SECRET
    assert r.headers["cache-control"] == "no-store"
    r = _api(server, key.reveal(), "finance/o365/password?bot=payroll")
    assert r.status_code == 200 and r.json()["value"] == BOB_VALUE  # bob's own value
    r = _api(server, key.reveal(), "finance/o365/client_secret?bot=other")
    assert r.status_code == 403 and "may not run the bot" in r.json()["error"]
    # A runner whose bots run as carol, a participant, gets only carol's credentials.
    _, carols_key = apikeys.create(db, "runner-2", run_as="carol", bots=["*"], by="test")
    assert _api(server, carols_key.reveal(), "finance/carols/token?bot=x").json()["value"] \
        == OTHERS
    r = _api(server, carols_key.reveal(), "finance/o365/client_secret?bot=x")
    assert r.status_code == 403 and "another participant" in r.json()["error"]
    apikeys.revoke(db, "runner-1", by="test")
    r = _api(server, key.reveal(), "finance/o365/client_secret?bot=payroll")
    assert r.status_code == 401

    # No value on any page, nor in the audit log; the reads are audited.
    log = admin.get("/admin/audit?action=credential.read").text
    assert "key:runner-1" in log and "bot=payroll" in log and "refused 403" in log
    pages.append(log)
    pages.append(admin.get("/admin/audit").text)
    for text in pages:
        for value in (SECRET, BOB_VALUE, OTHERS):
            assert value not in text


def test_without_the_master_key_the_vault_pages_say_it_is_locked(cr_server: Server) -> None:
    alice = cr_server.sign_in("alice", USER_PASSWORD)
    r = alice.get("/vault/lockers")
    assert r.status_code == 503 and "locked" in alert_of(r.text)

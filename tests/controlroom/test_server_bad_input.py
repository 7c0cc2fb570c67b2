"""Bad input across the server's forms and API: each gets a 4xx with a message that names
what is wrong, and changes nothing (users, roles, keys, lockers, credentials, values)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from controlroom_support import (
    ADMIN_PASSWORD,
    USER_PASSWORD,
    PageClient,
    alert_of,
    start_server,
    stock_users,
)
from m365bot.controlroom import accounts, apikeys
from m365bot.controlroom.db import Database
from m365bot.vault import AttributeSpec, Vault, new_raw_key

VALUE = "CANARY-bad-input-value-6161"
PW = "CANARY-bad-input-pass-6262"
LONG = "x" * 150
API = "/api/v1/credentials"

# (who, method, path, form data, status, words the message must contain)
CASES: list[tuple[str, str, str, dict[str, str], int, str]] = [
    ("anon", "POST", "/signin", {"name": "", "password": "x"}, 400, "user name"),
    ("anon", "POST", "/signin", {"name": "alice", "password": ""}, 400, "password"),
    ("admin", "POST", "/admin/users", {"name": "", "password": PW, "password2": PW}, 400,
     "user name is missing"),
    ("admin", "POST", "/admin/users", {"name": "bad name", "password": PW, "password2": PW},
     400, "not valid"),
    ("admin", "POST", "/admin/users", {"name": LONG, "password": PW, "password2": PW}, 400,
     "not valid"),
    ("admin", "POST", "/admin/users", {"name": "newbie", "password": "short",
                                       "password2": "short"}, 400, "shorter than 12"),
    ("admin", "POST", "/admin/users", {"name": "newbie", "password": PW,
                                       "password2": PW + "x"}, 400, "passwords differ"),
    ("admin", "POST", "/admin/users", {"name": "Alice", "password": PW, "password2": PW},
     409, "already exists"),
    ("admin", "POST", "/admin/users", {"name": "newbie", "password": PW, "password2": PW,
                                       "is_admin": "maybe"}, 400, "checkbox"),
    ("admin", "POST", "/admin/users", {"name": "newbie", "password": "p" * 2000,
                                       "password2": "p" * 2000}, 400, "longer than 1024"),
    ("admin", "POST", "/admin/users/nobody", {"action": "unlock"}, 404, "no user named"),
    ("admin", "POST", "/admin/users/alice", {"action": "promote"}, 400, "unknown action"),
    ("admin", "POST", "/admin/users/alice", {"action": "add_role", "role": ""}, 400,
     "no role chosen"),
    ("admin", "POST", "/admin/users/alice", {"action": "add_role", "role": "ghosts"}, 404,
     "no role named"),
    ("admin", "POST", "/admin/users/alice", {"action": "remove_role", "role": "finance"},
     404, "does not have the role"),
    ("admin", "POST", "/admin/users/admin", {"action": "disable"}, 409,
     "last active administrator"),
    ("admin", "POST", "/admin/users/alice", {"action": "password", "password": "short",
                                             "password2": "short"}, 400, "shorter than 12"),
    ("admin", "POST", "/admin/roles", {"name": ""}, 400, "role name is missing"),
    ("admin", "POST", "/admin/roles", {"name": "finance"}, 409, "already exists"),
    ("admin", "POST", "/admin/roles", {"name": "r2", "description": "d" * 501}, 400,
     "longer than 500"),
    ("admin", "POST", "/admin/roles", {"name": "a/b"}, 400, "not valid"),
    ("admin", "POST", "/admin/api-keys", {"name": "", "run_as": "alice", "bots": "*"}, 400,
     "runner name is missing"),
    ("admin", "POST", "/admin/api-keys", {"name": "r9", "run_as": "ghost", "bots": "*"}, 404,
     "no user named"),
    ("admin", "POST", "/admin/api-keys", {"name": "r9", "run_as": "alice", "bots": ""}, 400,
     "names no bot"),
    ("admin", "POST", "/admin/api-keys", {"name": "r9", "run_as": "alice", "bots": "*",
                                          "roles": "ghosts"}, 404, "no role named"),
    ("admin", "POST", "/admin/api-keys", {"name": "r9", "run_as": "alice",
                                          "bots": "pay/roll"}, 400, "not valid"),
    ("admin", "POST", "/admin/api-keys", {"name": "runner", "run_as": "alice", "bots": "*"},
     409, "already exists"),
    ("admin", "POST", "/admin/api-keys/ghost/revoke", {}, 404, "no API key named"),
    ("admin", "POST", "/admin/api-keys/old/revoke", {}, 409, "revoked already"),
    ("admin", "GET", "/admin/audit?since=yesterday", {}, 400, "not a date"),
    ("admin", "GET", "/admin/audit?limit=-5", {}, 400, "limit"),
    ("admin", "GET", "/admin/audit?limit=abc", {}, 400, "limit"),
    ("alice", "POST", "/vault/lockers", {"name": ""}, 400, "locker name is missing"),
    ("alice", "POST", "/vault/lockers", {"name": "finance"}, 409, "already exists"),
    ("alice", "POST", "/vault/lockers", {"name": "a/b"}, 400, "not valid"),
    ("alice", "POST", "/vault/locker/credentials", {"locker": "finance", "credential": "c2",
                                                    "attribute": ""}, 400,
     "attribute name is missing"),
    ("alice", "POST", "/vault/locker/credentials", {"locker": "finance", "credential": "c2",
                                                    "attribute": "pw", "value": VALUE,
                                                    "user_provided": "on"}, 400,
     "user-provided attribute has no value"),
    ("alice", "POST", "/vault/locker/credentials", {"locker": "finance", "credential": "c2",
                                                    "attribute": "pw", "masked": "yes"}, 400,
     "checkbox"),
    ("alice", "POST", "/vault/locker/values", {"locker": "finance", "credential": "o365",
                                               "attribute": "client_secret", "value": ""},
     400, "empty"),
    ("alice", "POST", "/vault/locker/values", {"locker": "finance", "credential": "ghost",
                                               "attribute": "x", "value": VALUE}, 404,
     "no credential"),
    ("alice", "POST", "/vault/locker/members", {"locker": "finance", "kind": "user",
                                                "member": "ghost", "role": "consumer"}, 404,
     "no user named"),
    ("alice", "POST", "/vault/locker/members", {"locker": "finance", "kind": "user",
                                                "member": "bob", "role": "boss"}, 400,
     "unknown locker role"),
    ("alice", "POST", "/vault/locker/members", {"locker": "finance", "kind": "group",
                                                "member": "bob", "role": "consumer"}, 400,
     "neither user nor role"),
    ("alice", "POST", "/vault/locker/members/remove", {"locker": "finance",
                                                       "member": "alice"}, 409,
     "at least one owner"),
    ("alice", "POST", "/vault/requests", {"locker": "finance", "credential": "o365",
                                          "attribute": "client_secret", "value": VALUE}, 404,
     "no credential request"),
    ("alice", "GET", "/vault/locker", {}, 400, "no locker named"),
    ("alice", "GET", "/vault/locker?name=ghost", {}, 404, "not a member"),
    ("alice", "POST", "/settings/password", {"current_password": "not mine at all",
                                              "password": PW, "password2": PW}, 400,
     "current password is wrong"),
    ("alice", "POST", "/settings/password", {"current_password": USER_PASSWORD,
                                              "password": PW, "password2": PW + "x"}, 400,
     "new passwords differ"),
    ("alice", "POST", "/settings/password", {"current_password": USER_PASSWORD,
                                              "password": "short", "password2": "short"},
     400, "shorter than 12"),
    ("api", "GET", f"{API}/finance/o365/client_secret", {}, 400, "names no bot"),
    ("api", "GET", f"{API}/ghost/o365/client_secret?bot=payroll", {}, 404, "no locker"),
    ("api", "GET", f"{API}/finance/o365/password?bot=payroll", {}, 404, "has no value"),
    ("api-none", "GET", f"{API}/finance/o365/client_secret?bot=payroll", {}, 401,
     "needs a runner's API key"),
    ("api-junk", "GET", f"{API}/finance/o365/client_secret?bot=payroll", {}, 401,
     "unknown or revoked"),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("bad")
    db_path = str(tmp / "controlroom.db")
    stock_users(db_path)
    key = new_raw_key()
    db = Database.open(db_path)
    accounts.create_user(db, "bob", PW, by="test")
    accounts.create_role(db, "finance", by="test")
    server = start_server(db_path, tmp / "server", env={"M365BOT_VAULT_KEY": key})
    try:
        vault = Vault.open(db_path, actor="alice")
        vault.unlock(key=key)
        vault.create_locker("finance")
        vault.set_credential("finance", "o365", {
            "client_secret": AttributeSpec(VALUE),
            "password": AttributeSpec(user_provided=True)})
        vault.add_member("finance", "role:finance", "consumer")
        vault.close()
        _, good = apikeys.create(db, "runner", run_as="bob", bots=["payroll"],
                                 roles_=["finance"], by="test")
        apikeys.create(db, "old", run_as="bob", bots=["*"], by="test")
        apikeys.revoke(db, "old", by="test")
        yield {"server": server, "db": db, "key": good.reveal(),
               "admin": server.sign_in("admin", ADMIN_PASSWORD),
               "alice": server.sign_in("alice", USER_PASSWORD), "anon": server.client()}
    finally:
        server.stop()
        db.dispose()


_TABLES = {"cr_users": "name, password_hash, is_admin, disabled",
           "cr_roles": "name, description", "cr_user_roles": "user_id, role_id",
           "cr_api_keys": "name, key_hash, revoked_at, bots, roles",
           "vault_lockers": "name", "vault_locker_members": "locker_id, principal, role",
           "vault_credentials": "name, owner, description",
           "vault_attributes": "name, masked, user_provided",
           "vault_blobs": "kind, key, version"}


def _snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    with db.read() as conn:
        return {t: sorted(tuple(r) for r in conn.execute(text(f"SELECT {cols} FROM {t}")))
                for t, cols in _TABLES.items()}


def _send(world: dict[str, Any], who: str, method: str, path: str,
          data: dict[str, str]) -> httpx.Response:
    if who.startswith("api"):
        auth = {"api": f"Bearer {world['key']}", "api-junk": "Bearer m365cr_junk"}.get(who)
        headers = {"authorization": auth} if auth else {}
        return httpx.get(world["server"].url + path, headers=headers, timeout=30)
    client: PageClient = world[who]
    if method == "GET":
        return client.get(path)
    return client.post_form(path, data, from_page="/signin" if who == "anon" else "/")


@pytest.mark.parametrize(("who", "method", "path", "data", "status", "words"), CASES,
                         ids=[f"{i:02d}-{c[2].split('?')[0].rsplit('/', 1)[-1]}"
                              for i, c in enumerate(CASES)])
def test_bad_input_gets_a_4xx_with_a_message_and_changes_nothing(
        world: dict[str, Any], who: str, method: str, path: str, data: dict[str, str],
        status: int, words: str) -> None:
    before = _snapshot(world["db"])
    r = _send(world, who, method, path, data)
    assert r.status_code == status, (r.status_code, r.text[-400:])
    message = r.json()["error"] + " " + r.json()["fix"] if who.startswith("api") else \
        alert_of(r.text)
    assert words.lower() in message.lower(), message
    assert _snapshot(world["db"]) == before


def test_forms_that_are_not_urlencoded_too_big_or_not_utf8_are_refused(
        world: dict[str, Any]) -> None:
    alice: PageClient = world["alice"]
    alice.get("/vault/lockers")
    before = _snapshot(world["db"])
    r = alice.post("/vault/lockers", files={"name": ("n", b"x")},
                   data={"csrf_token": alice.csrf})
    assert r.status_code == 415 and "x-www-form-urlencoded" in alert_of(r.text)
    r = alice.post("/vault/lockers", data={"csrf_token": alice.csrf, "name": "n" * 70_000})
    assert r.status_code == 413 and "64 KiB" in alert_of(r.text)
    r = alice.post("/vault/lockers", content=b"csrf_token=" + alice.csrf.encode() +
                   b"&name=\xff\xfe", headers={"content-type":
                                               "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and "could not be read" in alert_of(r.text)
    assert _snapshot(world["db"]) == before


def test_there_are_at_least_forty_bad_inputs() -> None:
    assert len(CASES) + 3 >= 40

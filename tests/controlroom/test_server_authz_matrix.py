"""The authorization matrix: every principal (anonymous, a user, a locker consumer, a
locker owner, an administrator, a valid and a revoked API key) against every page and API
endpoint of the server, with the status expected in each cell."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from controlroom_support import (
    ADMIN_PASSWORD,
    USER_PASSWORD,
    PageClient,
    Server,
    start_server,
    stock_users,
)
from m365bot.controlroom import accounts, apikeys
from m365bot.controlroom.db import Database
from m365bot.vault import AttributeSpec, Vault, new_raw_key

OTHERS = "CANARY-matrix-pass-5151"
VALUE = "CANARY-matrix-value-5252"
PRINCIPALS = ("anonymous", "user", "consumer", "owner", "admin", "key", "revoked key")
API = "/api/v1/credentials/finance/o365/client_secret?bot=payroll"

# (method, path, form data; "{p}" in a value becomes the principal's short name)
ENDPOINTS: list[tuple[str, str, dict[str, str]]] = [
    ("GET", "/", {}),
    ("GET", "/signin", {}),
    ("GET", "/api/v1/health", {}),
    ("GET", "/admin/users", {}),
    ("POST", "/admin/users", {"name": "new-{p}", "password": OTHERS, "password2": OTHERS}),
    ("POST", "/admin/users/alice", {"action": "unlock"}),
    ("GET", "/admin/roles", {}),
    ("POST", "/admin/roles", {"name": "role-{p}"}),
    ("GET", "/admin/api-keys", {}),
    ("POST", "/admin/api-keys", {"name": "key-{p}", "run_as": "alice", "bots": "*"}),
    ("POST", "/admin/api-keys/spare-{p}/revoke", {}),
    ("GET", "/admin/audit", {}),
    ("GET", "/vault/lockers", {}),
    ("POST", "/vault/lockers", {"name": "locker-{p}"}),
    ("GET", "/vault/locker?name=finance", {}),
    ("POST", "/vault/locker/members", {"locker": "finance", "kind": "user",
                                       "member": "alice", "role": "consumer"}),
    ("POST", "/vault/locker/values", {"locker": "finance", "credential": "o365",
                                      "attribute": "client_secret", "value": VALUE}),
    ("GET", "/vault/requests", {}),
    ("GET", "/settings/password", {}),
    ("POST", "/vault/requests", {"locker": "finance", "credential": "o365",
                                 "attribute": "password", "value": VALUE}),
    ("GET", API, {}),
    ("POST", "/signout", {}),  # last: it ends the session
]

# Expected status per endpoint, in the order of PRINCIPALS. Signed-out GETs of pages
# redirect to the sign-in page (303); signed-out POSTs get 401; API keys never sign in
# to pages; pages' sessions never reach the API.
G, P = 303, 401  # signed out: GET, POST
EXPECTED: dict[tuple[str, str], tuple[int, ...]] = {
    ("GET", "/"): (G, 200, 200, 200, 200, G, G),
    ("GET", "/signin"): (200, 303, 303, 303, 303, 200, 200),
    ("GET", "/api/v1/health"): (200,) * 7,
    ("GET", "/admin/users"): (G, 403, 403, 403, 200, G, G),
    ("POST", "/admin/users"): (P, 403, 403, 403, 200, P, P),
    ("POST", "/admin/users/alice"): (P, 403, 403, 403, 200, P, P),
    ("GET", "/admin/roles"): (G, 403, 403, 403, 200, G, G),
    ("POST", "/admin/roles"): (P, 403, 403, 403, 200, P, P),
    ("GET", "/admin/api-keys"): (G, 403, 403, 403, 200, G, G),
    ("POST", "/admin/api-keys"): (P, 403, 403, 403, 201, P, P),
    ("POST", "/admin/api-keys/spare-{p}/revoke"): (P, 403, 403, 403, 200, P, P),
    ("GET", "/admin/audit"): (G, 403, 403, 403, 200, G, G),
    ("GET", "/vault/lockers"): (G, 200, 200, 200, 200, G, G),
    ("POST", "/vault/lockers"): (P, 200, 200, 200, 200, P, P),
    ("GET", "/vault/locker?name=finance"): (G, 404, 200, 200, 404, G, G),
    ("POST", "/vault/locker/members"): (P, 403, 403, 200, 403, P, P),
    ("POST", "/vault/locker/values"): (P, 403, 403, 200, 403, P, P),
    ("GET", "/vault/requests"): (G, 200, 200, 200, 200, G, G),
    ("GET", "/settings/password"): (G, 200, 200, 200, 200, G, G),
    ("POST", "/vault/requests"): (P, 404, 200, 200, 404, P, P),
    ("POST", "/signout"): (303,) * 7,
    ("GET", API): (401, 401, 401, 401, 401, 200, 401),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("matrix")
    db_path = str(tmp / "controlroom.db")
    stock_users(db_path)
    key = new_raw_key()
    db = Database.open(db_path)
    for name in ("bob", "carol"):
        accounts.create_user(db, name, OTHERS, by="test")
    accounts.create_role(db, "payroll-bots", by="test")
    accounts.assign_role(db, "bob", "payroll-bots", by="test")
    server = start_server(db_path, tmp / "server", env={"M365BOT_VAULT_KEY": key})
    try:
        vault = Vault.open(db_path, actor="carol")
        vault.unlock(key=key)
        vault.create_locker("finance")
        vault.set_credential("finance", "o365", {
            "client_secret": AttributeSpec(VALUE), "password": AttributeSpec(
                user_provided=True)})
        vault.add_member("finance", "role:payroll-bots", "consumer")
        vault.close()
        for p in ("admin",):
            apikeys.create(db, f"spare-{p}", run_as="alice", bots=["*"], by="test")
        _, good = apikeys.create(db, "runner", run_as="bob", bots=["payroll"], by="test")
        _, bad = apikeys.create(db, "revoked", run_as="bob", bots=["payroll"], by="test")
        apikeys.revoke(db, "revoked", by="test")
        yield server, {"key": good.reveal(), "revoked key": bad.reveal()}
    finally:
        server.stop()
        db.dispose()


def _client(server: Server, principal: str, keys: dict[str, str]) -> PageClient:
    if principal in ("user", "consumer", "owner", "admin"):
        name, password = {"user": ("alice", USER_PASSWORD), "consumer": ("bob", OTHERS),
                          "owner": ("carol", OTHERS), "admin": ("admin", ADMIN_PASSWORD)
                          }[principal]
        return server.sign_in(name, password)
    client = server.client()
    if principal in keys:
        client.headers["authorization"] = f"Bearer {keys[principal]}"
    client.get("/signin")  # a signed-out form token, so only authorization decides
    return client


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_authorization_matrix(world: tuple[Server, dict[str, Any]], principal: str) -> None:
    server, keys = world
    column = PRINCIPALS.index(principal)
    short = principal.replace(" ", "-")
    got: dict[str, int] = {}
    wrong: list[str] = []
    client = _client(server, principal, keys)
    for method, path, data in ENDPOINTS:
        url = path.replace("{p}", "admin" if "spare" in path else short)
        if method == "GET":
            status = client.get(url).status_code
        else:
            body = {k: v.replace("{p}", short) for k, v in data.items()}
            status = client.post_form(url, body).status_code
        expected = EXPECTED[(method, path)][column]
        got[f"{method} {path}"] = status
        if status != expected:
            wrong.append(f"{method} {url}: expected {expected}, got {status}")
    client.close()
    assert not wrong, "\n".join(wrong)
    assert len(got) == len(ENDPOINTS) == len(EXPECTED)

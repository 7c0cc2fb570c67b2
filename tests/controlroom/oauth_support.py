"""Control Room OAuth set-ups for the server tests: a database with users named by their
mailbox address, a role, OAuth connections on the emulator's apps, a runner's API key, and a
served process that reaches the emulator (its proxy and CA) and opens its vault.

Example::

    room = stock_oauth(db, vault_key, emulator.info)
    with oauth_server(room, tmp_path) as server:
        RemoteControlRoom(url=server.url, api_key=room.api_key)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auth_support import deliver, sign_in_location
from controlroom_support import ADMIN_PASSWORD, USER_PASSWORD, Server, served_controlroom
from m365bot.controlroom import accounts, apikeys
from m365bot.controlroom.connections import OAuthConnection
from m365bot.controlroom.db import Database
from m365bot.controlroom.oauth_repo import OAuthRepo
from m365bot.controlroom.sealing import TokenSealer
from m365bot.controlroom.store import ConnectionStore
from m365bot.values import Secret
from m365bot.vault.keys import MasterKeySource
from world_support import app, secret_of, tenant, user

ROLE = "mailbots"
PROVIDER = "Microsoft 365 Outlook"


@dataclass
class Room:
    """A stocked Control Room database: its URL, vault key, the runner's API key, the user
    the runner runs as (alice, by her mailbox address) and bob (no role)."""

    db: str
    vault_key: str
    info: dict[str, Any]
    api_key: Secret
    alice: str
    bob: str

    @contextmanager
    def store(self) -> Iterator[ConnectionStore]:
        """The embedded store's code on the server's database and vault (same tables)."""
        database = Database.open(self.db)
        sealer = TokenSealer.from_master(MasterKeySource.from_key(self.vault_key))
        try:
            yield ConnectionStore(None, db=database, sealer=sealer)
        finally:
            database.dispose()

    def repo(self, store: ConnectionStore) -> OAuthRepo:
        return store.repo

    def env(self) -> dict[str, str]:
        """The server's environment: the vault key, the emulator's proxy and CA."""
        return {"M365BOT_VAULT_KEY": self.vault_key, "M365BOT_PROXY": self.info["proxy_url"],
                "M365BOT_CA_BUNDLE": self.info["ca_bundle"]}


def pkce_app(info: dict[str, Any], cloud: str = "global") -> dict[str, Any]:
    tid = tenant(info, cloud)["id"]
    return next(a for a in info["apps"] if a["tenant_id"] == tid and a["name"] == "m365bot-pkce")


def outlook_connection(info: dict[str, Any], name: str = "ops") -> OAuthConnection:
    """A Microsoft 365 Outlook connection (Global) on the emulator's PKCE app."""
    return OAuthConnection.outlook(name, cloud="global", tenant=tenant(info)["id"],
                                   client_id=pkce_app(info)["client_id"],
                                   scopes=["offline_access",
                                           "https://graph.microsoft.com/User.Read",
                                           "https://graph.microsoft.com/Mail.ReadWrite"])


def app_connection(info: dict[str, Any], name: str = "ops-app") -> OAuthConnection:
    """A client-credentials connection on the emulator's demo app."""
    a = app(info)
    return OAuthConnection.outlook(name, cloud="global", tenant=a["tenant_id"],
                                   client_id=a["client_id"], grant_type="client_credentials",
                                   client_secret=Secret(secret_of(a)))


def browser_for(info: dict[str, Any], who: str) -> Any:
    """``open_browser`` that signs ``who`` in on the emulator's pages (no Chromium)."""
    u = user(info, who)

    def open_browser(url: str) -> None:
        threading.Thread(target=lambda: deliver(sign_in_location(info, url, u["upn"],
                                                                 u["password"])),
                         daemon=True).start()

    return open_browser


def stock_oauth(db: str, vault_key: str, info: dict[str, Any], *,
                connections: tuple[OAuthConnection, ...] = ()) -> Room:
    """Users admin, alice@... (role mailbots) and bob@...; the connections, shared with
    mailbots; a runner key that runs as alice."""
    alice, bob = user(info, "alice")["upn"], user(info, "bob")["upn"]
    from m365bot.vault import Vault

    # the server's Credential Vault first: it refuses a SQLite file that already holds
    # other tables
    vault = Vault.open(db, actor="controlroom")
    vault.initialize(key=vault_key)
    vault.close()
    database = Database.open(db)
    try:
        accounts.create_user(database, "admin", ADMIN_PASSWORD, is_admin=True, by="test")
        accounts.create_user(database, alice, USER_PASSWORD, by="test")
        accounts.create_user(database, bob, USER_PASSWORD, by="test")
        accounts.create_role(database, ROLE, by="test")
        accounts.assign_role(database, alice, ROLE, by="test")
        _, key = apikeys.create(database, "runner1", run_as=alice, bots="*", roles_=[ROLE],
                                by="test")
    finally:
        database.dispose()
    room = Room(db, vault_key, info, key, alice, bob)
    with room.store() as store:
        for conn in connections:
            store.add(conn)
            store.repo.set_roles(store.repo.get(conn.provider_type, conn.name).id, [ROLE])
    return room


@contextmanager
def oauth_server(room: Room, workdir: Path, **kw: Any) -> Iterator[Server]:
    """A served Control Room on the room's database, reaching the emulator."""
    with served_controlroom(room.db, workdir, env=room.env(), **kw) as server:
        yield server

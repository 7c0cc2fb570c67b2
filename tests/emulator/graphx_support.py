"""Fixtures for the attachment, upload-session, calendar and $batch tests: an httpx client
that reaches the real Graph and upload host names through the emulator's proxy, with an
app-only token from the real token endpoint.

Import the fixtures into a test module: ``from graphx_support import gx, draft  # noqa: F401``.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

GRAPH = "https://graph.microsoft.com/v1.0"
ALICE = "alice@contoso.onmicrosoft.com"
BOB = "bob@contoso.onmicrosoft.com"


@dataclass
class GX:
    """A Graph caller: ``gx.get("/users/x/events")`` → httpx.Response."""

    client: httpx.Client
    token: str
    info: dict[str, Any]

    def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kw.pop("headers", {})}
        url = path if path.startswith("https://") else GRAPH + path
        return self.client.request(method, url, headers=headers, **kw)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.call("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.call("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> httpx.Response:
        return self.call("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.call("DELETE", path, **kw)


def proxied_client(info: dict[str, Any]) -> httpx.Client:
    ctx = ssl.create_default_context(cafile=info["ca_bundle"])
    return httpx.Client(proxy=info["proxy_url"], verify=ctx, trust_env=False, timeout=30)


def app_token(client: httpx.Client, info: dict[str, Any]) -> str:
    """Client-credentials token for contoso's m365bot-demo app from the real token URL."""
    tenant = next(t for t in info["tenants"] if t["cloud"] == "global")
    app = next(a for a in info["apps"]
               if a["tenant_id"] == tenant["id"] and a["name"] == "m365bot-demo")
    r = client.post(
        f"https://login.microsoftonline.com/{tenant['id']}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "client_id": app["client_id"],
              "client_secret": max(app["secrets"], key=lambda s: str(s["expires"]))["value"],
              "scope": "https://graph.microsoft.com/.default"},
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


@pytest.fixture(scope="session")
def gx(emulator_info: dict[str, Any]) -> Iterator[GX]:
    with proxied_client(emulator_info) as client:
        yield GX(client=client, token=app_token(client, emulator_info), info=emulator_info)


@pytest.fixture
def draft(emulator: Any) -> Iterator[str]:
    """A fresh draft in Alice's mailbox (placed directly in the emulator's state); its id."""
    from m365bot.emulator.state import Message

    box = emulator.state.mailbox(ALICE)
    folder = next((f.id for f in box.folders.values() if f.well_known_name == "drafts"), "")
    mid = "AAMkAGDraft" + uuid.uuid4().hex + "AAA="
    with emulator.state.lock:
        box.messages[mid] = Message(
            id=mid, immutable_id=mid, folder_id=folder,
            props={"subject": "attachment test", "isDraft": True, "hasAttachments": False,
                   "body": {"contentType": "text", "content": "hi"}},
        )
    yield mid
    with emulator.state.lock:
        box = emulator.state.mailbox(ALICE)
        if box is not None:
            box.messages.pop(mid, None)


def error_code(r: httpx.Response) -> str:
    body = r.json()
    return str(body["error"]["code"])


def delegated_token(client: httpx.Client, info: dict[str, Any], name: str, scope: str) -> str:
    """A delegated token for user ``name`` of contoso: sign-in pages, code + PKCE redemption."""
    from msal_support import app, get_code, tenant, user

    pkce = app(info, "m365bot-pkce")
    code, verifier = get_code(info, client, pkce["client_id"], user(info, name), scope)
    r = client.post(
        f"https://login.microsoftonline.com/{tenant(info)['id']}/oauth2/v2.0/token",
        data={"grant_type": "authorization_code", "client_id": pkce["client_id"],
              "code": code, "code_verifier": verifier, "scope": scope,
              "redirect_uri": "http://localhost:8400"},
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


@pytest.fixture
def calendars_restored(emulator: Any) -> Iterator[None]:
    """Remove the events a test adds to Alice's and Bob's calendars (shared session emulator)."""
    before = {a: set(emulator.state.mailbox(a).events) for a in (ALICE, BOB)}
    yield
    with emulator.state.lock:
        for address, ids in before.items():
            box = emulator.state.mailbox(address)
            if box is None:
                continue
            for eid in set(box.events) - ids:
                del box.events[eid]

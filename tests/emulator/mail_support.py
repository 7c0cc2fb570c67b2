"""Fixtures for the Graph mail tests: Graph callers over real HTTPS through proxy mode
(the real graph.microsoft.com URLs), with tokens from the emulator's real token endpoint.

``mail`` calls as the demo app (app-only, Mail.ReadWrite + Mail.Send); ``alice_delegated``
as Alice through the sign-in pages (PKCE). Import into a test module:
``from mail_support import mail, alice_delegated, ...  # noqa: F401``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from graphx_support import GX, app_token, delegated_token, proxied_client

GRAPH = "https://graph.microsoft.com/v1.0"
ALICE = "alice@contoso.onmicrosoft.com"
BOB = "bob@contoso.onmicrosoft.com"
OPS = "ops@contoso.onmicrosoft.com"
FULL_SCOPE = ("openid profile offline_access User.Read Mail.ReadWrite Mail.Send "
              "Mail.ReadWrite.Shared Mail.Send.Shared")


def token_for(client: httpx.Client, info: dict[str, Any], app_name: str,
              cloud: str = "global") -> str:
    """A client-credentials token for a demo app (any cloud), from the real token URL."""
    from msal_support import GRAPH as GRAPH_ROOTS
    from msal_support import LOGIN, app, tenant, valid_secret

    a = app(info, app_name, cloud)
    r = client.post(
        f"https://{LOGIN[cloud]}/{tenant(info, cloud)['id']}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "client_id": a["client_id"],
              "client_secret": valid_secret(a), "scope": f"{GRAPH_ROOTS[cloud]}/.default"},
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


@pytest.fixture(scope="session")
def http_client(emulator_info: dict[str, Any]) -> Iterator[httpx.Client]:
    with proxied_client(emulator_info) as client:
        yield client


@pytest.fixture(scope="session")
def mail(http_client: httpx.Client, emulator_info: dict[str, Any]) -> GX:
    """App-only caller (m365bot-demo: Mail.ReadWrite, Mail.Send, Calendars.ReadWrite)."""
    return GX(client=http_client, token=app_token(http_client, emulator_info),
              info=emulator_info)


def sign_in(info: dict[str, Any], name: str, scope: str) -> str:
    """A delegated token for ``name``, signed in with a browser-like client of its own (its
    own cookies, so one user's sign-in session never leaks into another's)."""
    with proxied_client(info) as browser:
        return delegated_token(browser, info, name, scope)


@pytest.fixture(scope="session")
def alice_delegated(http_client: httpx.Client, emulator_info: dict[str, Any]) -> GX:
    """Alice signed in to the public client with mail scopes incl. the .Shared ones."""
    token = sign_in(emulator_info, "alice", FULL_SCOPE)
    return GX(client=http_client, token=token, info=emulator_info)


@pytest.fixture(scope="session")
def bob_delegated(http_client: httpx.Client, emulator_info: dict[str, Any]) -> GX:
    token = sign_in(emulator_info, "bob", FULL_SCOPE)
    return GX(client=http_client, token=token, info=emulator_info)


def err(r: httpx.Response) -> str:
    assert r.headers["content-type"].startswith("application/json"), r.text[:200]
    return str(r.json()["error"]["code"])


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def find_subject(gx: GX, mailbox: str, subject: str, folder: str = "inbox") -> list[dict[str, Any]]:
    r = gx.get(f"/users/{mailbox}/mailFolders/{folder}/messages",
               params={"$filter": f"subject eq '{subject}'", "$top": "50"})
    assert r.status_code == 200, r.text
    return list(r.json()["value"])

"""Helpers for the Graph mail tests of the emulator: tokens for any demo app or user, error
codes, unique names, and finding a message by subject. The Graph callers built on them
(``gx`` as the demo app, ``alice_delegated``, ``bob_delegated``) are fixtures in
tests/emulator/conftest.py.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from graphx_support import GX, delegated_token, proxied_client

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


def sign_in(info: dict[str, Any], name: str, scope: str) -> str:
    """A delegated token for ``name``, signed in with a browser-like client of its own (its
    own cookies, so one user's sign-in session never leaks into another's)."""
    with proxied_client(info) as browser:
        return delegated_token(browser, info, name, scope)


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

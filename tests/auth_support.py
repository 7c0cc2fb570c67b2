"""Helpers for the auth and Control Room tests: an httpx "browser" that signs in through the
emulator's HTML pages, a signed-in PKCE provider, and cache manipulation for expiry tests.
Lookups into the demo world are in world_support."""

from __future__ import annotations

import html as htmllib
import json
import re
import ssl
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx

from m365bot.auth.modes import AuthCodePkce
from m365bot.config import Settings
from world_support import app, user


def settings_for(info: dict[str, Any], data_dir: Path, **kw: Any) -> Settings:
    return Settings(data_dir=data_dir, proxy=info["proxy_url"], ca_bundle=info["ca_bundle"], **kw)


def browser_client(info: dict[str, Any]) -> httpx.Client:
    ctx = ssl.create_default_context(cafile=info["ca_bundle"])
    return httpx.Client(proxy=info["proxy_url"], verify=ctx, trust_env=False, timeout=20)


def _field(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert m, f"page has no {name}"
    return m.group(1)


def _action(html: str, form_id: str) -> str:
    m = re.search(rf'<form method="post" action="([^"]+)" id="{form_id}"', html)
    assert m, f"page has no {form_id} form"
    return htmllib.unescape(m.group(1))


def sign_in_location(info: dict[str, Any], auth_uri: str, upn: str, password: str) -> str:
    """Drive the emulator's sign-in pages like a person; return the redirect Location."""
    parts = urlsplit(auth_uri)
    base = f"{parts.scheme}://{parts.netloc}"
    with browser_client(info) as client:
        r = client.get(auth_uri)
        for _ in range(6):
            if r.status_code in (302, 303):
                return str(r.headers["location"])
            assert r.status_code == 200, r.text[:300]
            page = r.text
            if 'id="signin"' in page:
                r = client.post(base + _action(page, "signin"),
                                data={"ctx": _field(page, "ctx"), "login": upn, "passwd": password})
            elif 'id="consent"' in page:
                r = client.post(base + _action(page, "consent"),
                                data={"ctx": _field(page, "ctx"), "accept": "yes"})
            elif 'id="picker"' in page:
                r = client.post(base + _action(page, "picker"),
                                data={"ctx": _field(page, "ctx"), "choice": "other"})
            else:
                raise AssertionError("unexpected page: " + page[:300])
    raise AssertionError("sign-in did not finish")


def deliver(location: str) -> int:
    """The browser following the redirect to the loopback listener (no proxy)."""
    with httpx.Client(trust_env=False, timeout=10) as c:
        return c.get(location).status_code


def expire_cached_tokens(vault: Any, key: str) -> int:
    """Make every access token in a persisted msal cache look expired; returns how many."""
    data = json.loads(vault.get_blob("token_cache", key))
    past = str(int(time.time()) - 60)
    n = 0
    for entry in data.get("AccessToken", {}).values():
        entry["expires_on"] = past
        entry["extended_expires_on"] = past
        n += 1
    vault.put_blob("token_cache", key, json.dumps(data).encode())
    return n


def signed_in_alice(emulator: Any, settings: Settings, vault: Any,
                    http_client: Any = None) -> AuthCodePkce:
    """Alice signs in once (attended), like the first run of a PKCE bot."""
    a = app(emulator.info, "m365bot-pkce")
    alice = user(emulator.info, "alice")

    def browser(url: str) -> None:
        threading.Thread(target=lambda: deliver(sign_in_location(
            emulator.info, url, alice["upn"], alice["password"])), daemon=True).start()

    p = AuthCodePkce(cloud="global", tenant=a["tenant_id"], client_id=a["client_id"],
                     username=alice["upn"], redirect_url="http://localhost:0",
                     interactive=True, open_browser=browser, settings=settings, store=vault,
                     http_client=http_client)
    p.get_token()
    return p


class Browser:
    """Opens the authorize URL like a person would, in a thread; can tamper with the redirect."""

    def __init__(self, info: dict[str, Any], who: dict[str, Any], tamper: str = "") -> None:
        self.info, self.who, self.tamper = info, who, tamper
        self.auth_uris: list[str] = []
        self.thread: threading.Thread | None = None
        self.status: int | None = None
        self.page = ""

    def __call__(self, url: str) -> None:
        self.auth_uris.append(url)
        self.thread = threading.Thread(target=self._run, args=(url,), daemon=True)
        self.thread.start()

    def _run(self, url: str) -> None:
        loc = sign_in_location(self.info, url, self.who["upn"], self.who["password"])
        if self.tamper:
            parts = urlsplit(loc)
            q = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if self.tamper == "wrong_state":
                q["state"] = "forged-" + q["state"]
            elif self.tamper == "no_state":
                q.pop("state")
            loc = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(q), ""))
        with httpx.Client(trust_env=False, timeout=30) as c:
            answer = c.get(loc)
        self.status, self.page = answer.status_code, answer.text

    def join(self) -> None:
        """Wait for the page the listener answers with (sent after the token exchange)."""
        assert self.thread is not None
        self.thread.join(30)

"""Random bad input on every login-host endpoint: always an Entra 4xx, never a 500."""

from __future__ import annotations

import random
import ssl
from typing import Any

import httpx

VALUES = [
    "", "x", "common", "organizations", "\x00", "%%", "ü", "a" * 5000, "http://[::1",
    "https://graph.microsoft.com/.default", "openid offline_access Mail.Read",
    "http://localhost", "http://localhost:99999", "S256", "plain", "none", "login", "consent",
    "select_account", "form_post", "fragment", "code", "code id_token", "token",
]
KEYS = [
    "grant_type", "client_id", "client_secret", "scope", "code", "redirect_uri",
    "code_verifier", "refresh_token", "client_assertion", "client_assertion_type", "username",
    "password", "device_code", "client_info", "response_type", "response_mode", "prompt",
    "state", "nonce", "code_challenge", "code_challenge_method", "login_hint",
]
GRANTS = [
    "client_credentials", "authorization_code", "refresh_token", "password",
    "urn:ietf:params:oauth:grant-type:device_code", "x",
]


def test_random_bad_input_never_gets_a_500(emulator: Any) -> None:
    info = emulator.info
    rnd = random.Random(20261126)
    t = next(t for t in info["tenants"] if t["cloud"] == "global")
    values = VALUES + [t["id"], t["domain"]] + [a["client_id"] for a in info["apps"]]
    base = info["base_url"]
    failures = []
    ctx = ssl.create_default_context(cafile=info["ca_bundle"])
    with httpx.Client(verify=ctx, trust_env=False, timeout=20) as c:
        for _ in range(400):
            seg = rnd.choice(["common", t["id"], t["domain"], "organizations", "nosuch", "%20"])
            d = {k: rnd.choice(values) for k in rnd.sample(KEYS, rnd.randint(0, 10))}
            if rnd.random() < 0.7:
                d["grant_type"] = rnd.choice(GRANTS)
            kind = rnd.choice(["token", "authorize", "devicecode", "login", "consent", "instance"])
            if kind == "token":
                basic = rnd.choice(["eA==", "!!", "YTpi", "w6k=", "Og=="])
                headers = {"authorization": f"Basic {basic}"} if rnd.random() < 0.3 else {}
                r = c.post(f"{base}/{seg}/oauth2/v2.0/token", data=d, headers=headers)
            elif kind == "authorize":
                r = c.get(f"{base}/{seg}/oauth2/v2.0/authorize", params=d)
            elif kind == "devicecode":
                r = c.post(f"{base}/{seg}/oauth2/v2.0/devicecode", data=d)
            elif kind == "login":
                r = c.post(f"{base}/{seg}/login", data={"ctx": rnd.choice(values), "login": "a"})
            elif kind == "consent":
                r = c.post(f"{base}/{seg}/Consent/Set", data={"ctx": rnd.choice(values)})
            else:
                r = c.get(f"{base}/common/discovery/instance", params={
                    "api-version": rnd.choice(["1.0", "1.1", "", "2"]),
                    "authorization_endpoint": rnd.choice(values)})
            if r.status_code >= 500:
                failures.append((kind, seg, sorted(d), r.status_code))
    assert failures == []

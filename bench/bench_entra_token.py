"""What a token costs on the emulator: client_credentials (secret and certificate assertion)
and a refresh_token grant, over one keep-alive HTTPS connection in direct mode.

Runs the emulator in-process (demo scenario) and prints the median round trip of each grant.
No goal in issue 2; this shows that identity is never the slow part of a test run.

Run::

    .venv/bin/python bench/bench_entra_token.py [--requests 200]
"""

from __future__ import annotations

import argparse
import ssl
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization

from m365bot.emulator.runtime import Emulator

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _median_ms(n: int, call: Callable[[], httpx.Response]) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = call()
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, r.text
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Emulator.start(scenario="demo", data_dir=tmp) as emu:
        info: dict[str, Any] = emu.info
        tenant = next(t for t in info["tenants"] if t["cloud"] == "global")
        demo = next(
            a
            for a in info["apps"]
            if a["tenant_id"] == tenant["id"] and a["name"] == "m365bot-demo"
        )
        pkce = next(
            a
            for a in info["apps"]
            if a["tenant_id"] == tenant["id"] and a["name"] == "m365bot-pkce"
        )
        alice = next(
            u
            for u in info["users"]
            if u["tenant_id"] == tenant["id"] and u["upn"].startswith("alice")
        )
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        secret = next(s["value"] for s in demo["secrets"] if s["expires"] > now)
        url = f"{info['base_url']}/{tenant['id']}/oauth2/v2.0/token"
        ctx = ssl.create_default_context(cafile=info["ca_bundle"])
        cert = demo["certificates"][0]
        with open(cert["key_file"], "rb") as fh:
            key = serialization.load_pem_private_key(fh.read(), password=None)
        scope = "https://graph.microsoft.com/.default"
        with httpx.Client(verify=ctx, trust_env=False) as client:

            def with_secret() -> httpx.Response:
                return client.post(
                    url,
                    data={
                        "grant_type": "client_credentials",
                        "scope": scope,
                        "client_id": demo["client_id"],
                        "client_secret": secret,
                    },
                )

            def with_cert() -> httpx.Response:
                t = int(time.time())
                assertion = jwt.encode(
                    {
                        "aud": url,
                        "iss": demo["client_id"],
                        "sub": demo["client_id"],
                        "jti": str(uuid.uuid4()),
                        "nbf": t,
                        "exp": t + 600,
                    },
                    key,
                    algorithm="PS256",
                    headers={"x5t#S256": cert["x5t_s256"]}
                    if "x5t_s256" in cert
                    else {"x5t#S256": cert["thumbprint_sha256"]},
                )
                return client.post(
                    url,
                    data={
                        "grant_type": "client_credentials",
                        "scope": scope,
                        "client_id": demo["client_id"],
                        "client_assertion": assertion,
                        "client_assertion_type": JWT_BEARER,
                    },
                )

            ropc = client.post(
                url,
                data={
                    "grant_type": "password",
                    "client_id": pkce["client_id"],
                    "scope": "offline_access https://graph.microsoft.com/Mail.ReadWrite",
                    "username": alice["upn"],
                    "password": alice["password"],
                },
            ).json()
            rt = ropc["refresh_token"]

            def refresh() -> httpx.Response:
                return client.post(
                    url,
                    data={
                        "grant_type": "refresh_token",
                        "client_id": pkce["client_id"],
                        "refresh_token": rt,
                        "scope": "offline_access https://graph.microsoft.com/Mail.ReadWrite",
                    },
                )

            with_secret()
            print(f"requests per grant: {args.requests}")
            for label, call in (
                ("client_credentials + secret", with_secret),
                ("client_credentials + PS256 cert", with_cert),
                ("refresh_token (rotation)", refresh),
            ):
                print(f"{label:34} median {_median_ms(args.requests, call):.2f} ms")


if __name__ == "__main__":
    main()

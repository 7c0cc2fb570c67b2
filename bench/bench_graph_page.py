"""Server time of a 1,000-message Graph page with ``$select`` (target: ≤ 50 ms).

Seeds Alice's Inbox in the demo emulator with 5,000 messages, then requests
``/v1.0/users/{alice}/messages?$top=1000&$select=subject,from,receivedDateTime`` over real
HTTPS (proxy mode, the real Graph URL) with an app-only token from the real token endpoint,
and prints the median of the ``x-emulator-server-ms`` header (time spent inside the
emulator's handler pipeline: auth, mailbox resolution, query, rendering, JSON).

Run: ``.venv/bin/python bench/bench_graph_page.py``
"""

from __future__ import annotations

import os
import ssl
import statistics
import time

import httpx

from m365bot.emulator.graph.seed import seed_message
from m365bot.emulator.runtime import Emulator

ALICE = "alice@contoso.onmicrosoft.com"
N_MESSAGES = 5000
ROUNDS = 50


def main() -> None:
    with Emulator.start(scenario="demo") as emu:
        info = emu.info
        box = emu.state.mailbox(ALICE)
        with emu.state.lock:
            for i in range(N_MESSAGES):
                seed_message(emu.state, box, {
                    "subject": f"Bench message {i}", "from": f"sender{i % 50}@example.com",
                    "to": [ALICE], "body": f"Body of message {i}. " * 5,
                    "received": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
                })
        ctx = ssl.create_default_context(cafile=info["ca_bundle"])
        with httpx.Client(proxy=info["proxy_url"], verify=ctx, trust_env=False,
                          timeout=30) as client:
            tenant = next(t for t in info["tenants"] if t["cloud"] == "global")
            app = next(a for a in info["apps"]
                       if a["tenant_id"] == tenant["id"] and a["name"] == "m365bot-demo")
            token = client.post(
                f"https://login.microsoftonline.com/{tenant['id']}/oauth2/v2.0/token",
                data={"grant_type": "client_credentials", "client_id": app["client_id"],
                      "client_secret": app["secrets"][0]["value"],
                      "scope": "https://graph.microsoft.com/.default"},
            ).json()["access_token"]
            url = (f"https://graph.microsoft.com/v1.0/users/{ALICE}/messages"
                   "?$top=1000&$select=subject,from,receivedDateTime")
            server: list[float] = []
            handler: list[float] = []
            wall: list[float] = []
            for _ in range(ROUNDS):
                t0 = time.perf_counter()
                r = client.get(url, headers={"Authorization": f"Bearer {token}"})
                wall.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200, r.text[:200]
                assert len(r.json()["value"]) == 1000
                server.append(float(r.headers["x-emulator-server-ms"]))
                handler.append(float(r.headers["x-emulator-handler-ms"]))
        print(f"mailbox: {len(box.messages)} messages; page: 1000 messages with $select")
        print(f"server time median: {statistics.median(server):.2f} ms "
              f"(min {min(server):.2f}, max {max(server):.2f}) over {ROUNDS} requests")
        print(f"  of which the page handler (query, render, JSON): "
              f"{statistics.median(handler):.2f} ms median")
        print(f"client wall time median: {statistics.median(wall):.2f} ms")
        print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()

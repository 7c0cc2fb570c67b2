"""The Control Room's runner API for vault values, and sign-in (issue 9).

A served Control Room (``m365bot controlroom serve``, its own process) on SQLite, or on the
PostgreSQL database given with ``--db``. Measured:

* **credential reads**: ``--clients`` concurrent runners (threads, one HTTP connection
  each), each reading one value ``--requests`` times through
  ``GET /api/v1/credentials/...?bot=...``: the API key check, the vault's role check and
  decryption, and two audit entries (the Control Room's and the vault's), per read.
  Latency p50/p99 and reads per second;
* **sign-in**: ``--signins`` sequential sign-ins (argon2id verification, a new session and
  its audit entry), p50/p99.

Run: ``.venv/bin/python bench/bench_controlroom_vault_api.py [--clients 50] [--requests 20]
[--signins 10] [--db postgresql+psycopg://postgres@127.0.0.1:5432/DB]``
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from m365bot.controlroom import accounts, apikeys
from m365bot.controlroom.db import Database
from m365bot.vault import AttributeSpec, Vault, new_raw_key

PASSWORD = "bench-password-0123456789"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--signins", type=int, default=10)
    ap.add_argument("--db", default="")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-cr-"))
    db_url = args.db or str(tmp / "controlroom.db")
    key = new_raw_key()
    db = Database.open(db_url)
    accounts.create_user(db, "bench", PASSWORD, by="bench")
    port = _port()
    log = (tmp / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "m365bot", "controlroom", "serve", "--db", db_url,
         "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "M365BOT_VAULT_KEY": key, "M365BOT_HOME": str(tmp / "home")})
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/api/v1/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        vault = Vault.open(db_url, actor="bench")
        vault.unlock(key=key)
        vault.create_locker("bench")
        vault.set_credential("bench", "app", {"secret": AttributeSpec("s" * 40)})
        vault.close()
        _, runner_key = apikeys.create(db, "runner", run_as="bench", bots=["b"], by="bench")
        headers = {"authorization": f"Bearer {runner_key.reveal()}"}
        path = f"{url}/api/v1/credentials/bench/app/secret?bot=b"
        latencies: list[float] = []
        lock = threading.Lock()
        errors = 0

        def runner() -> None:
            nonlocal errors
            with httpx.Client(headers=headers, timeout=60) as c:
                c.get(path)  # connect first: the measured reads reuse the connection
                for _ in range(args.requests):
                    t0 = time.perf_counter()
                    r = c.get(path)
                    dt_ms = (time.perf_counter() - t0) * 1000
                    with lock:
                        latencies.append(dt_ms)
                        errors += r.status_code != 200

        threads = [threading.Thread(target=runner) for _ in range(args.clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        dialect = "postgresql" if "://" in db_url else "sqlite"
        print(f"credential reads ({dialect}, {args.clients} clients x {args.requests}): "
              f"p50 {statistics.median(latencies):.1f} ms, p99 {_pct(latencies, 99):.1f} ms, "
              f"{len(latencies) / wall:.0f} reads/s, {errors} errors")

        signins: list[float] = []
        for _ in range(args.signins):
            with httpx.Client(base_url=url, timeout=60) as c:
                page = c.get("/signin").text
                token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
                t0 = time.perf_counter()
                r = c.post("/signin", data={"csrf_token": token, "name": "bench",
                                            "password": PASSWORD})
                signins.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 303, r.status_code
        print(f"sign-in ({dialect}, argon2id, {args.signins} sequential): "
              f"p50 {statistics.median(signins):.1f} ms, p99 {_pct(signins, 99):.1f} ms")
    finally:
        server.terminate()
        server.wait(10)
        db.dispose()


if __name__ == "__main__":
    main()

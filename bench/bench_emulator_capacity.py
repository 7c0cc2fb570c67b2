"""Capacity: 64 concurrent clients over many apps and mailboxes, then a soak.

A real ``m365bot emulator serve`` subprocess on 127.0.0.1 runs a generated scenario: one
tenant, ``APPS`` apps, ``MAILBOXES`` mailboxes of 1,000 messages each. ``--clients`` threads
(64) each use their own app + mailbox pair, so Outlook's 4-per-pair concurrency limit is
never the bottleneck (a 429 is still counted, apart from 5xx and timeouts).

1. For each operation alone — a small GET, a 1,000-message page with ``$select``, a sendMail
   and a token request — ``--per-op`` requests from all clients: requests per second, p99.
2. A soak of ``--soak`` requests mixing the four (the same shares as a bot's run: 55% small
   GETs, 10% pages, 20% sends, 15% tokens), stopped after ``--max-seconds`` at the latest;
   the server's RSS is sampled every 10 s. Sends go outside the tenant without a Sent Items
   copy, so the world only grows by the outbound log and the write log (the ground truth).

Run: ``.venv/bin/python bench/bench_emulator_capacity.py --soak 100000 --max-seconds 300``
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import random
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from emu_harness import Served, load_line, pct

APPS = 16
MAILBOXES = 16
DOMAIN = "loadtest.onmicrosoft.com"
SECRET = "m365bot~dev~loadtest~secret~{i:02d}"
OPS = ("small GET", "1,000-message page", "sendMail", "token")
SHARES = (0.55, 0.10, 0.20, 0.15)


def scenario(path: Path) -> Path:
    users = [{"name": f"u{m:02d}", "password": "Load-Test-Pa55!", "mailbox": {"messages": [
        {"folder": "inbox", "subject": f"Message {n}", "from": f"sender{n % 40}@example.com",
         "to": [f"u{m:02d}@{DOMAIN}"], "body": f"Body of message {n}. " * 4,
         "received": f"2026-{1 + n % 12:02d}-{1 + n % 28:02d}T{n % 24:02d}:00:00Z"}
        for n in range(1000)]}} for m in range(MAILBOXES)]
    apps = [{"name": f"load-{i:02d}", "application_permissions": ["Mail.ReadWrite", "Mail.Send"],
             "secrets": [{"id": f"00000000-0000-4000-8000-{i:012d}", "value": SECRET.format(i=i),
                          "expires": "2099-12-31"}]} for i in range(APPS)]
    spec = {"name": "loadtest", "tenants": [{"name": "loadtest", "cloud": "global",
                                              "domain": DOMAIN, "users": users, "apps": apps}]}
    path.write_text(json.dumps(spec))
    return path


class Client:
    """One of the concurrent clients: its own app, mailbox and connection."""

    def __init__(self, srv: Served, index: int) -> None:
        self.srv = srv
        tenant = srv.info["tenants"][0]["id"]
        app = next(a for a in srv.info["apps"] if a["name"] == f"load-{index % APPS:02d}")
        self.token_form = {"grant_type": "client_credentials", "client_id": app["client_id"],
                           "client_secret": app["secrets"][0]["value"],
                           "scope": "https://graph.microsoft.com/.default"}
        self.token_url = f"/{tenant}/oauth2/v2.0/token"
        self.mailbox = f"u{(index // (APPS // 4)) % MAILBOXES:02d}@{DOMAIN}"
        self.http = srv.client(timeout=30)
        self.http.headers["Authorization"] = "Bearer " + self.token()

    def token(self) -> str:
        r = self.http.post(self.token_url, data=self.token_form)
        r.raise_for_status()
        return str(r.json()["access_token"])

    def run(self, op: str) -> int:
        box = f"/v1.0/users/{self.mailbox}"
        if op == "small GET":
            r = self.http.get(f"{box}/mailFolders/inbox/messages",
                              params={"$top": "1", "$select": "subject"})
        elif op == "1,000-message page":
            r = self.http.get(f"{box}/messages", params={
                "$top": "1000", "$select": "subject,from,receivedDateTime"})
        elif op == "sendMail":
            r = self.http.post(f"{box}/sendMail", json={"saveToSentItems": False, "message": {
                "subject": "load", "body": {"contentType": "text", "content": "hello " * 30},
                "toRecipients": [{"emailAddress": {"address": "partner@example.com"}}]}})
        else:
            r = self.http.post(self.token_url, data=self.token_form)
        r.read()
        return r.status_code


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ms: dict[str, list[float]] = {op: [] for op in OPS}
        self.status: dict[int, int] = {}
        self.timeouts = 0

    def add(self, op: str, ms: float, status: int) -> None:
        with self.lock:
            self.ms[op].append(ms)
            self.status[status] = self.status.get(status, 0) + 1


def drive(clients: list[Client], count: int, pick: Callable[[random.Random], str],
          tally: Tally, deadline: float) -> tuple[int, float]:
    """``count`` requests spread over the clients (each sends one at a time)."""
    issued = 0
    lock = threading.Lock()

    def worker(c: Client, seed: int) -> None:
        nonlocal issued
        rng = random.Random(seed)
        while time.monotonic() < deadline:
            with lock:
                if issued >= count:
                    return
                issued += 1
            op = pick(rng)
            t0 = time.perf_counter()
            try:
                status = c.run(op)
            except httpx.TimeoutException:
                with tally.lock:
                    tally.timeouts += 1
                continue
            tally.add(op, (time.perf_counter() - t0) * 1000, status)

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(len(clients)) as pool:
        list(pool.map(worker, clients, range(len(clients))))
    return issued, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--per-op", type=int, default=2000)
    parser.add_argument("--soak", type=int, default=100_000)
    parser.add_argument("--max-seconds", type=float, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="m365bot-capacity-") as tmp:
        spec = scenario(Path(tmp) / "loadtest.json")
        with Served(scenario=spec) as srv:
            clients = [Client(srv, i) for i in range(args.clients)]
            print(f"{args.clients} clients over {APPS} apps x {MAILBOXES} mailboxes "
                  f"(1,000 messages each); server RSS at start {srv.rss_kb() / 1024:.0f} MB")
            for op in OPS:
                tally = Tally()
                done, seconds = drive(clients, args.per_op, lambda _r, o=op: o, tally,
                                      time.monotonic() + args.max_seconds)
                ms = tally.ms[op]
                print(f"  {op:<20} {done / seconds:7.0f} req/s  p99 {pct(ms, 0.99):7.1f} ms  "
                      f"median {pct(ms, 0.5):6.1f} ms  statuses {tally.status}  "
                      f"timeouts {tally.timeouts}")

            tally = Tally()
            rss: list[tuple[float, float]] = []
            stop = threading.Event()
            start = time.monotonic()

            def sample() -> None:
                while True:
                    rss.append((time.monotonic() - start, srv.rss_kb() / 1024))
                    if stop.wait(10):
                        return

            sampler = threading.Thread(target=sample)
            sampler.start()

            def mix(rng: random.Random) -> str:
                return rng.choices(OPS, SHARES)[0]

            done, seconds = drive(clients, args.soak, mix, tally, start + args.max_seconds)
            stop.set()
            sampler.join()
            rss.append((time.monotonic() - start, srv.rss_kb() / 1024))
            with srv.client() as c:
                log = c.get("/_emulator/counters").json().get("log", {})
            for c in clients:
                c.http.close()
        fives = sum(n for s, n in tally.status.items() if s >= 500)
        print(f"soak: {done} requests in {seconds:.0f} s = {done / seconds:.0f} req/s; "
              f"statuses {dict(sorted(tally.status.items()))}; 5xx {fives}; "
              f"timeouts {tally.timeouts}")
        for op in OPS:
            print(f"  {op:<20} p99 {pct(tally.ms[op], 0.99):7.1f} ms over "
                  f"{len(tally.ms[op])} requests")
        print("  RSS (s, MB): " + ", ".join(f"({t:.0f}, {m:.0f})" for t, m in rss))
        print(f"  request log {log}")
    print(load_line())


if __name__ == "__main__":
    main()

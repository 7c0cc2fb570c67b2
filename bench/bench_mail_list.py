"""``session.mail.list``: 10,000 messages with 5 fields, against the emulator with 50 ms of
latency per round trip and Outlook's throttling on (issue 8, "Performance": the list case
and the async case with 4 mailboxes in parallel).

The emulator runs in its own process (``m365bot emulator serve``), as Graph does, so that
its work to build each page does not share this process's interpreter.

**Floor of one listing.** Pages form a chain: a page's ``@odata.nextLink`` is known only
when that page has arrived, so, with ``$top`` at Graph's maximum of 1,000,

    floor = ceil(messages / 1000) x latency = ceil(10000 / 1000) x 50 ms = 500 ms

The server's own time to build each page is extra (measured here from the emulator's
``x-emulator-server-ms`` header, less the injected latency that span includes, and printed):
``floor + server = 10 x (50 ms + s)``.
Goal: the median listing ≤ 1.2 x floor.

**The bare loop** beside it: the same pages through a plain httpx client with the session's
token, JSON decoded and nothing more, alternating round by round with the listing. It shows
what this machine and the emulator (its page time, the proxy and TLS hops) allow any
Python client, so the listing's own cost is its ratio to the bare loop.

**4 mailboxes in parallel** (the async API, ``session.aio.mail.list`` on four sessions in
one event loop): Outlook's limits are per app and mailbox, so the four chains do not wait
for one another and the floor of the four together is the floor of one. Throughput is
messages per second; goal: 4 x 10,000 / T4 ≥ 3.5 x 10,000 / T1, i.e. T4 ≤ 1.14 x T1.

**CPU.** The bench also counts the CPU time this process (the client) and the emulator's
process spend per page. Both run in Python, on the same machine: when the two together
need more CPU than the machine's cores can give them in T1, the 4-mailbox case is bound by
CPU, not by Graph's limits, and the bench says so (``CPU bound: T4 >= ...``).

Each figure is the median of ``--rounds`` runs (at least 5). The session's connection is
opened and its token fetched before the clock starts (one warm-up listing), as a bot's
session does at Connect.

Run: ``.venv/bin/python bench/bench_mail_list.py [--messages 10000] [--latency-ms 50]
[--rounds 5]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emu_harness import Served, open_session

from m365bot.sessions import Session

DOMAIN = "contoso.onmicrosoft.com"
BOXES = ("alice", "bob", "carol", "dave")
FOLDER = "archive"
FIELDS = ["subject", "from", "received", "is_read", "has_attachments"]  # 5 fields (+ id)


def scenario(n: int) -> dict[str, Any]:
    """The demo world with ``n`` messages in the Archive of each of four mailboxes."""
    from m365bot.emulator.scenario import load_spec

    spec = load_spec("demo")
    users = spec["tenants"][0]["users"]
    for name in BOXES[2:]:
        users.append({"name": name, "display_name": name.title(), "password": "Bench-Pa55!",
                      "mailbox": {}})
    for user in users:
        if user["name"] in BOXES:
            box = user.setdefault("mailbox", {})
            box.setdefault("messages", []).extend(
                {"folder": FOLDER, "subject": f"Bench message {i}",
                 "from": f"sender{i % 50}@example.com", "to": [f"{user['name']}@{DOMAIN}"],
                 "body": f"Body of message {i}. " * 5,
                 "received": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
                 "is_read": i % 3 == 0} for i in range(n))
    return spec


def serve(tmp: Path, n: int, latency_ms: float) -> Served:
    path = tmp / "scenario.json"
    path.write_text(json.dumps(scenario(n)))
    return Served(scenario=path, latency_ms=latency_ms, start_timeout=600)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time process ``pid`` has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds the client (this process) and the emulator used during the measured runs."""

    def __init__(self, emulator_pid: int) -> None:
        self.pid = emulator_pid
        self.client = self.emulator = 0.0

    def start(self) -> None:
        self._c0, self._e0 = time.process_time(), cpu_seconds(self.pid)

    def stop(self) -> None:
        self.client += time.process_time() - self._c0
        self.emulator += cpu_seconds(self.pid) - self._e0


def list_sync(session: Session, n: int) -> float:
    t0 = time.perf_counter()
    got = sum(1 for _ in session.mail.list(FOLDER, fields=FIELDS))
    elapsed = time.perf_counter() - t0
    assert got == n, got
    return elapsed


async def _count(session: Session) -> int:
    return sum([1 async for _ in session.aio.mail.list(FOLDER, fields=FIELDS)])


def list_async(sessions: list[Session], n: int, rounds: int,
               cpu: CpuMeter | None = None) -> list[float]:
    """``rounds`` timed listings of every session at once, in one event loop, after a
    warm-up listing in that loop: the async client's connections belong to their loop, so a
    loop per round would time a TLS handshake through the proxy in every round."""
    async def main() -> list[float]:
        await asyncio.gather(*(_count(s) for s in sessions))
        times = []
        if cpu is not None:
            cpu.start()
        for _ in range(rounds):
            t0 = time.perf_counter()
            counts = await asyncio.gather(*(_count(s) for s in sessions))
            times.append(time.perf_counter() - t0)
            assert counts == [n] * len(sessions), counts
        if cpu is not None:
            cpu.stop()
        for s in sessions:
            await s.agraph.aclose()
        return times

    return asyncio.run(main())


def bare_loop(session: Session, info: dict[str, Any], n: int) -> Callable[[], float]:
    """The same listing with no m365bot code in the loop: one httpx client (its defaults,
    HTTP/1.1) through the same proxy and CA, with the session's token, following the
    nextLinks and decoding each page's JSON, nothing more. What this machine and the
    emulator allow a Python client; the listing's own cost is what it adds to this."""
    import ssl

    import httpx

    token = session.graph.token_provider.get_token().token.reveal()
    client = httpx.Client(proxy=info["proxy_url"], trust_env=False, timeout=60,
                          verify=ssl.create_default_context(cafile=info["ca_bundle"]),
                          headers={"Authorization": f"Bearer {token}"})
    first = (f"https://graph.microsoft.com/v1.0/users/{session.mailbox}/mailFolders/{FOLDER}"
             "/messages?$top=1000&$select=subject,from,receivedDateTime,isRead,hasAttachments")

    def run() -> float:
        t0 = time.perf_counter()
        got, url = 0, first
        while url:
            page = client.get(url).json()
            got += len(page["value"])
            url = page.get("@odata.nextLink")
        elapsed = time.perf_counter() - t0
        assert got == n, got
        return elapsed

    return run


def server_ms(session: Session, latency_ms: float) -> float:
    """The emulator's own time to build one 1,000-message page (median of 5): its
    ``x-emulator-server-ms`` header less the injected latency, which the emulator spends
    inside that span (in the mailbox's throttling slot)."""
    path = f"/users/{session.mailbox}/mailFolders/{FOLDER}/messages"
    times = []
    for _ in range(5):
        r = session.graph.get(path, params={"$top": 1000, "$select": "subject,from,"
                                            "receivedDateTime,isRead,hasAttachments"})
        times.append(float(r.headers.get("x-emulator-server-ms") or 0) - latency_ms)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    n, latency = args.messages, args.latency_ms / 1000
    with tempfile.TemporaryDirectory() as tmp, serve(Path(tmp), n, args.latency_ms) as srv:
        info = srv.info
        sessions = [open_session(info, Path(tmp) / "home", u) for u in BOXES]
        list_sync(sessions[0], n)                     # warm-up: connection and token
        bare = bare_loop(sessions[0], info, n)
        bare()                                        # warm-up: its connection
        one_sync, one_bare = [], []
        for _ in range(args.rounds):                  # alternating, so both see the same load
            one_sync.append(list_sync(sessions[0], n))
            one_bare.append(bare())
        one_async = list_async(sessions[:1], n, args.rounds)
        cpu = CpuMeter(srv.proc.pid)
        four_async = list_async(sessions, n, args.rounds, cpu)
        server = server_ms(sessions[0], args.latency_ms)
        for s in sessions:
            s.close()
    pages = math.ceil(n / 1000)
    floor = pages * latency
    with_server = pages * (latency + server / 1000)
    t1, ta, t4, tb = (statistics.median(x) for x in (one_sync, one_async, four_async,
                                                     one_bare))
    print(f"{n:,} messages per mailbox, {pages} pages of 1,000, fields: {', '.join(FIELDS)}")
    print(f"floor = ceil({n} / 1000) x {args.latency_ms:g} ms = {floor * 1000:.0f} ms; "
          f"server time per page s = {server:.0f} ms (median), floor + pages x s = "
          f"{with_server * 1000:.0f} ms")
    print(f"session.mail.list, one mailbox (sync): median {t1 * 1000:.0f} ms = "
          f"{t1 / floor:.2f} x floor ({t1 / with_server:.2f} x floor + server) "
          f"[runs: {', '.join(f'{x * 1000:.0f}' for x in one_sync)}]")
    print(f"bare httpx loop, no m365bot code (HTTP/1.1, JSON only): median {tb * 1000:.0f} ms = "
          f"{tb / floor:.2f} x floor; session.mail.list = {t1 / tb:.2f} x the bare loop "
          f"[runs: {', '.join(f'{x * 1000:.0f}' for x in one_bare)}]")
    print(f"session.aio.mail.list, one mailbox: median {ta * 1000:.0f} ms = "
          f"{ta / floor:.2f} x floor [runs: {', '.join(f'{x * 1000:.0f}' for x in one_async)}]")
    print(f"session.aio.mail.list, {len(BOXES)} mailboxes in parallel: median "
          f"{t4 * 1000:.0f} ms [runs: {', '.join(f'{x * 1000:.0f}' for x in four_async)}]")
    print(f"throughput: one mailbox {n / ta:,.0f} msg/s, {len(BOXES)} mailboxes "
          f"{len(BOXES) * n / t4:,.0f} msg/s = {len(BOXES) * ta / t4:.2f} x (goal >= 3.5)")
    pages_run = args.rounds * len(BOXES) * pages
    client_ms, emu_ms = (x * 1000 / pages_run for x in (cpu.client, cpu.emulator))
    cores = os.cpu_count() or 1
    cpu_floor = len(BOXES) * pages * max(client_ms, emu_ms, (client_ms + emu_ms) / cores)
    print(f"CPU per page, 4 mailboxes: client {client_ms:.0f} ms, emulator {emu_ms:.0f} ms; "
          f"CPU floor of the 4 listings = {len(BOXES) * pages} pages x max(client, emulator, "
          f"sum / {cores} cores) = {cpu_floor:.0f} ms"
          + (f" -> CPU bound: T4 >= {cpu_floor / (ta * 1000):.2f} x T1"
             if cpu_floor > 1.14 * ta * 1000 else ""))
    share = (cpu.client + cpu.emulator) / sum(four_async)
    print(f"during the 4-mailbox runs the client and the emulator used {share:.2f} of the "
          f"{cores} cores (the rest went to other work on the machine); "
          f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

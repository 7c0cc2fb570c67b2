"""The Graph engine listing 10,000 messages with 5 fields, against the emulator with 50 ms of
latency per round trip and Outlook's throttling on (issue 8, "Performance", first case).

The floor: a list is a chain of pages (each ``@odata.nextLink`` is known only when the page
before it has arrived), so with ``$top`` at Graph's maximum of 1,000 it costs

    floor = ceil(messages / 1000) round trips x latency = ceil(10000 / 1000) x 50 ms = 500 ms

Goal: ≤ 1.2 x floor. The engine's connection is opened and its token fetched before the clock
starts (one warm-up request), as a bot's session does at Connect; the figure also includes the
emulator's own time to build and serialise each 1,000-message page (it runs in this process),
which it prints separately from the server-time header.

Run: ``.venv/bin/python bench/bench_engine.py [--messages 10000] [--latency-ms 50] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

import m365bot
from m365bot.config import Settings
from m365bot.emulator.graph.seed import seed_message
from m365bot.emulator.runtime import Emulator
from m365bot.values import Secret

ALICE = "alice@contoso.onmicrosoft.com"
FOLDER = "archive"
FIELDS = ["subject", "from", "receivedDateTime", "isRead", "hasAttachments"]  # + id: 5 asked


def seed(emu: Emulator, n: int) -> int:
    box = emu.state.mailbox(ALICE)
    assert box is not None
    with emu.state.lock:
        for i in range(n):
            seed_message(emu.state, box, {
                "subject": f"Bench message {i}", "from": f"sender{i % 50}@example.com",
                "to": [ALICE], "body": f"Body of message {i}. " * 5, "folder": FOLDER,
                "received": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:00:00Z"})
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with Emulator.start(scenario="demo") as emu, tempfile.TemporaryDirectory() as home:
        info = emu.info
        seed(emu, args.messages)
        tenant = next(t for t in info["tenants"] if t["cloud"] == "global")
        app = next(a for a in info["apps"]
                   if a["tenant_id"] == tenant["id"] and a["name"] == "m365bot-demo")
        settings = Settings(data_dir=Path(home), proxy=info["proxy_url"],
                            ca_bundle=info["ca_bundle"], timeout=60)
        session = m365bot.connect(cloud="global", mode="client-credentials",
                                  client_id=app["client_id"], tenant_id=tenant["id"],
                                  username=ALICE, client_secret=Secret(app["secrets"][0]["value"]),
                                  settings=settings)
        path = f"/users/{ALICE}/mailFolders/{FOLDER}/messages"
        total = session.graph.get(path, params={"$top": 1, "$count": "true"}).body
        emu.control.configure(latency_ms=args.latency_ms)
        emu.control.clear()
        session.graph.get(path, params={"$top": 1, "$select": "id"})  # warm-up
        pages = math.ceil(args.messages / 1000)
        floor = pages * args.latency_ms / 1000
        sync_times, async_times, server_ms = [], [], []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            got = sum(1 for _ in session.graph.paginate(path, select=FIELDS))
            sync_times.append(time.perf_counter() - t0)
            assert got >= args.messages, got

            async def alist() -> int:
                n = 0
                async for _ in session.agraph.paginate(path, select=FIELDS):
                    n += 1
                await session.agraph.aclose()
                return n

            t0 = time.perf_counter()
            assert asyncio.run(alist()) >= args.messages
            async_times.append(time.perf_counter() - t0)
        for r in emu.control.requests(op="messages.list"):
            if r.get("duration_ms") is not None:
                server_ms.append(float(r["duration_ms"]))
        throttled = len(emu.control.requests(status=429))
        session.close()
    seen = total.get("@odata.count", "?") if isinstance(total, dict) else "?"
    print(f"folder: {seen} messages; {pages} pages of 1,000 with $select={','.join(FIELDS)}")
    print(f"floor = ceil({args.messages} / 1000) x {args.latency_ms:g} ms = {floor * 1000:.0f} ms")
    for name, times in (("sync ", sync_times), ("async", async_times)):
        best, med = min(times), statistics.median(times)
        print(f"{name}: best {best * 1000:.0f} ms ({best / floor:.2f} x floor), "
              f"median {med * 1000:.0f} ms ({med / floor:.2f} x floor) over {len(times)} rounds")
    if server_ms:
        print(f"emulator time per page (handler, excluding latency): median "
              f"{statistics.median(server_ms):.0f} ms")
    print(f"429 answers: {throttled}; load average {os.getloadavg()[0]:.2f} on "
          f"{os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()

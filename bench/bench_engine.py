"""The Graph engine listing 10,000 messages with 5 fields, against the emulator with 50 ms of
latency per round trip and Outlook's throttling on (issue 8, "Performance", first case).

The floor: a list is a chain of pages (each ``@odata.nextLink`` is known only when the page
before it has arrived), so with ``$top`` at Graph's maximum of 1,000 it costs

    floor = ceil(messages / 1000) round trips x latency = ceil(10000 / 1000) x 50 ms = 500 ms

Goal: ≤ 1.2 x floor. The engine's connection is opened and its token fetched before the clock
starts (one warm-up request), as a bot's session does at Connect; the figure also includes the
emulator's own time to build and serialise each 1,000-message page (it runs in this process),
which it prints separately from the server-time header.

By default the emulator is served as its own process (``m365bot emulator serve``, the
scenario written with the messages added), so its work does not share this process's GIL;
``--in-process`` runs it in this process instead.

Run: ``.venv/bin/python bench/bench_engine.py [--messages 10000] [--latency-ms 50] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

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


@contextlib.contextmanager
def served(n: int, latency_ms: float, work: Path) -> Iterator[dict[str, Any]]:
    """The demo world plus ``n`` messages in Alice's Archive, served by its own process."""
    demo = Path(__file__).parent.parent / "src/m365bot/emulator/scenarios/demo.yaml"
    scenario = yaml.safe_load(demo.read_text())
    alice = next(u for u in scenario["tenants"][0]["users"] if u["name"] == "alice")
    alice["mailbox"].setdefault("messages", []).extend(
        {"folder": FOLDER, "subject": f"Bench message {i}",
         "from": f"sender{i % 50}@example.com", "to": [ALICE],
         "body": f"Body of message {i}. " * 5,
         "received": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:00:00Z"}
        for i in range(n))
    (work / "scenario.json").write_text(json.dumps(scenario))
    info_file = work / "emu.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("M365BOT_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "m365bot", "emulator", "serve", "--port", "0", "--proxy-port",
         "0", "--scenario", str(work / "scenario.json"), "--data-dir", str(work / "data"),
         "--info-file", str(info_file), "--latency-ms", str(latency_ms)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while not info_file.exists():
            if server.poll() is not None or time.monotonic() > deadline:
                err = server.stderr.read() if server.stderr else ""
                raise SystemExit(f"the emulator did not start: {err[-2000:]}")
            time.sleep(0.2)
        time.sleep(0.5)  # the file is written whole before the rename; give it a breath
        yield json.loads(info_file.read_text())
    finally:
        server.terminate()
        server.wait(timeout=30)


def throttled(info: dict[str, Any]) -> list[dict[str, Any]]:
    """The emulator's records of the requests it answered 429."""
    ctx = ssl.create_default_context(cafile=info["ca_bundle"])
    with httpx.Client(verify=ctx, trust_env=False) as c:
        records = c.get(info["control_url"] + "/requests", params={"status": 429}).json()
    return list(records.get("requests", records) if isinstance(records, dict) else records)


def connect(info: dict[str, Any], home: str) -> m365bot.Session:
    tenant = next(t for t in info["tenants"] if t["cloud"] == "global")
    app = next(a for a in info["apps"]
               if a["tenant_id"] == tenant["id"] and a["name"] == "m365bot-demo")
    settings = Settings(data_dir=Path(home), proxy=info["proxy_url"],
                        ca_bundle=info["ca_bundle"], timeout=60)
    return m365bot.connect(cloud="global", mode="client-credentials",
                           client_id=app["client_id"], tenant_id=tenant["id"], username=ALICE,
                           client_secret=Secret(app["secrets"][0]["value"]), settings=settings)


def measure(session: m365bot.Session, n: int, rounds: int) -> tuple[list[float], list[float]]:
    """Seconds to list every message, sync and async, ``rounds`` times each."""
    path = f"/users/{ALICE}/mailFolders/{FOLDER}/messages"
    session.graph.get(path, params={"$top": 1, "$select": "id"})  # warm-up: token, connection
    sync_times, async_times = [], []

    async def alist() -> int:
        count = 0
        async for _ in session.agraph.paginate(path, select=FIELDS):
            count += 1
        await session.agraph.aclose()
        return count

    for _ in range(rounds):
        t0 = time.perf_counter()
        got = sum(1 for _ in session.graph.paginate(path, select=FIELDS))
        sync_times.append(time.perf_counter() - t0)
        assert got >= n, got
        t0 = time.perf_counter()
        assert asyncio.run(alist()) >= n
        async_times.append(time.perf_counter() - t0)
    return sync_times, async_times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--in-process", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        if args.in_process:
            with Emulator.start(scenario="demo") as emu:
                seed(emu, args.messages)
                session = connect(emu.info, work)
                emu.control.configure(latency_ms=args.latency_ms)
                sync_times, async_times = measure(session, args.messages, args.rounds)
                refused = emu.control.requests(status=429)
                session.close()
        else:
            with served(args.messages, args.latency_ms, Path(work)) as info:
                session = connect(info, work)
                sync_times, async_times = measure(session, args.messages, args.rounds)
                refused = throttled(info)
                session.close()
    pages = math.ceil(args.messages / 1000)
    floor = pages * args.latency_ms / 1000
    where = "in this process" if args.in_process else "served as its own process"
    print(f"{args.messages} messages, {pages} pages of 1,000 with $select={','.join(FIELDS)}; "
          f"emulator {where}, {args.latency_ms:g} ms per round trip, throttling on")
    print(f"floor = ceil({args.messages} / 1000) x {args.latency_ms:g} ms = {floor * 1000:.0f} ms")
    for name, times in (("sync ", sync_times), ("async", async_times)):
        best, med = min(times), statistics.median(times)
        print(f"{name}: best {best * 1000:.0f} ms ({best / floor:.2f} x floor), "
              f"median {med * 1000:.0f} ms ({med / floor:.2f} x floor) over {len(times)} rounds")
    why = sorted({f"{r.get('op')}: {r.get('throttled')}" for r in refused})
    print(f"429 answers: {len(refused)} {why}; load average {os.getloadavg()[0]:.2f} on "
          f"{os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()

"""The inspection logs under a long run: fetching them must not stall the server.

Fills the request log of an in-process emulator with ``--records`` records (as a long run
leaves them), then fetches ``GET /_emulator/requests`` whole and one page of 100, while
another thread asks ``GET /_emulator/clock`` every 5 ms: the slowest of those answers is how
long the event loop was blocked. Prints the process's RSS before and after the fetches.

Run: ``.venv/bin/python bench/bench_emulator_logs.py --records 50000``
"""

from __future__ import annotations

import argparse
import gc
import json
import ssl
import threading
import time
from pathlib import Path

import httpx

from m365bot.emulator.runtime import Emulator


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=50_000)
    args = parser.parse_args()
    with Emulator.start(scenario="demo", proxy_port=None) as emu:
        for i in range(args.records):
            emu.control.log.add({
                "op": "messages.list", "method": "GET", "role": "graph",
                "path": "/v1.0/users/alice@contoso.onmicrosoft.com/messages",
                "host": "127.0.0.1", "app_id": "11111111-2222-3333-4444-555555555555",
                "mailbox": "alice@contoso.onmicrosoft.com", "status": 200,
                "time": emu.clock.now(), "applied": True, "request_id": f"{i:036d}",
                "client_request_id": f"{i:036d}", "duration_ms": 1.5})
        gc.collect()
        ctx = ssl.create_default_context(cafile=emu.info["ca_bundle"])
        before = rss_mb()
        stop = threading.Event()
        probes: list[float] = []

        def probe() -> None:
            with httpx.Client(base_url=emu.base_url, verify=ctx, trust_env=False) as c:
                while not stop.is_set():
                    t0 = time.perf_counter()
                    c.get("/_emulator/clock").raise_for_status()
                    probes.append((time.perf_counter() - t0) * 1000)
                    stop.wait(0.005)

        thread = threading.Thread(target=probe)
        thread.start()
        time.sleep(0.3)
        with httpx.Client(base_url=emu.base_url, verify=ctx, trust_env=False,
                          timeout=120) as c:
            t0 = time.perf_counter()
            raw = c.get("/_emulator/requests").content  # parsed later: not while probing
            whole_ms = (time.perf_counter() - t0) * 1000
            t0 = time.perf_counter()
            page = c.get("/_emulator/requests", params={"since": "100", "limit": "100"})
            page_ms = (time.perf_counter() - t0) * 1000
            if page.status_code != 200:  # a version without paging
                page_ms = float("nan")
        time.sleep(0.3)
        stop.set()
        thread.join()
        count = json.loads(raw)["count"]
        del raw
        gc.collect()
        after = rss_mb()
        counters = emu.control.counters()
    print(f"{args.records} records added; the log kept {count} "
          f"(dropped {counters.get('log', {}).get('dropped', 'n/a')})")
    print(f"whole log fetched in {whole_ms:.0f} ms; a page of 100 in {page_ms:.1f} ms")
    print(f"slowest control API answer meanwhile (event loop blocked): {max(probes):.0f} ms "
          f"over {len(probes)} probes")
    print(f"RSS {before:.0f} MB before the fetches, {after:.0f} MB after "
          f"({after - before:+.0f} MB)")


if __name__ == "__main__":
    main()

"""Send with attachments against the emulator, with 50 ms of latency per round trip and
Outlook's throttling on (issue 8, "Performance").

1. **Upload a 100 MB attachment: peak RSS grows ≤ 40 MB.** A child process (the client only;
   the emulator runs in this process) connects, sends one small warm-up message (modules
   loaded, connection and token ready), reads its RSS (``VmRSS``), sends one message with a
   100 MB file (an upload session, 4 MiB chunks read from disk one at a time), then reads its
   peak (``ru_maxrss``). Growth = peak after - RSS before.

2. **Send N emails each with an S MB attachment** (default 100 x 5 MiB) from one mailbox with
   W threads (default 4, Outlook's concurrent-request limit). Each email costs, in order:
   create the draft, create the upload session, ceil(S / 4 MiB) chunk PUTs, send: so
   ``R = 3 + ceil(S / 4 MiB)`` round trips (5 for 5 MiB). Floors:

   * round trips: ``ceil(N / min(W, 4)) x R x latency``
     (100 x 5 MiB: ceil(100 / 4) x 5 x 50 ms = 6.25 s);
   * Outlook's upload budget, 150 MB of request bodies per mailbox per ``window`` (300 s on
     Graph): ``max(0, N x S - 150 MiB) / 150 MiB x window``
     (100 x 5 MiB with Graph's window: 350 / 150 x 300 s = 700 s);
   * floor = the larger of the two. ``--upload-window`` scales the emulator's window (and the
     floor with it) so that the run takes minutes, not a quarter of an hour.

Run::

    .venv/bin/python bench/bench_send.py                      # both parts
    .venv/bin/python bench/bench_send.py --part rss
    .venv/bin/python bench/bench_send.py --part send --emails 100 --upload-window 30
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
ALICE = "alice@contoso.onmicrosoft.com"
BOB = "bob@contoso.onmicrosoft.com"
UPLOAD_BUDGET = 150 * MiB


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def _session(info: dict[str, Any], home: str) -> Any:
    import m365bot
    from m365bot.config import Settings
    from m365bot.values import Secret

    tenant = next(t for t in info["tenants"] if t["cloud"] == "global")
    app = next(a for a in info["apps"]
               if a["tenant_id"] == tenant["id"] and a["name"] == "m365bot-demo")
    secret = max(app["secrets"], key=lambda s: str(s["expires"]))["value"]
    settings = Settings(data_dir=Path(home), proxy=info["proxy_url"],
                        ca_bundle=info["ca_bundle"], timeout=120)
    return m365bot.connect(cloud="global", mode="client-credentials",
                           client_id=app["client_id"], tenant_id=tenant["id"], username=ALICE,
                           client_secret=Secret(secret), settings=settings)


def child(args: argparse.Namespace) -> None:
    """The client side, in its own process: prints one JSON line of figures."""
    info = json.loads(Path(args.info).read_text())
    with tempfile.TemporaryDirectory() as home:
        session = _session(info, home)
        session.mail.send(to=BOB, subject="warm-up", body="x",
                          attachments=[("w.bin", b"w" * (3 * MiB))])
        if args.part == "rss":
            before = _rss_kib()
            peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            t0 = time.perf_counter()
            result = session.mail.send(to=BOB, subject="100 MB", body="x",
                                       attachments=[args.file])
            took = time.perf_counter() - t0
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            print(json.dumps({"status": result.status, "rss_before_kib": before,
                              "peak_before_kib": peak_before, "peak_after_kib": peak,
                              "seconds": took}))
        else:
            times: list[float] = []
            failures: list[str] = []
            lock = threading.Lock()
            todo = list(range(args.emails))

            def worker() -> None:
                while True:
                    with lock:
                        if not todo:
                            return
                        n = todo.pop()
                    t = time.perf_counter()
                    try:
                        session.mail.send(to=BOB, subject=f"bench {n}", body="x",
                                          attachments=[args.file])
                    except Exception as exc:  # counted and reported
                        with lock:
                            failures.append(type(exc).__name__)
                    with lock:
                        times.append(time.perf_counter() - t)

            threads = [threading.Thread(target=worker) for _ in range(args.workers)]
            t0 = time.perf_counter()
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            print(json.dumps({"seconds": time.perf_counter() - t0,
                              "median_email_s": statistics.median(times),
                              "failures": failures}))
        session.close()


def _run_child(info_file: str, part: str, file: Path, extra: list[str]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, "--child", "--info", info_file,
                           "--part", part, "--file", str(file), *extra],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"child failed:\n{proc.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return figures


def _file(folder: Path, name: str, size: int) -> Path:
    path = folder / name
    with open(path, "wb") as f:   # real bytes (a sparse file would read as zeros quickly)
        left = size
        block = os.urandom(MiB)
        while left > 0:
            f.write(block[: min(MiB, left)])
            left -= MiB
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", choices=["rss", "send", "both"], default="both")
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--emails", type=int, default=100)
    ap.add_argument("--size-mib", type=float, default=5.0)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--upload-window", type=float, default=300.0,
                    help="seconds of Outlook's 150 MB upload window (Graph: 300)")
    ap.add_argument("--rss-mb", type=int, default=100)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--info", help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    from m365bot.emulator.runtime import Emulator

    with tempfile.TemporaryDirectory() as tmp, \
            Emulator.start(scenario="demo", data_dir=Path(tmp) / "emu") as emu:
        info_file = Path(tmp) / "info.json"
        info_file.write_text(json.dumps(emu.info))
        emu.control.configure(latency_ms=args.latency_ms, throttling={
            "enabled": True, "upload_window": args.upload_window})
        print(f"emulator: latency {args.latency_ms:g} ms per round trip, throttling on "
              f"(upload window {args.upload_window:g} s); load average "
              f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        if args.part in ("rss", "both"):
            big = _file(Path(tmp), "big.bin", args.rss_mb * MiB)
            f = _run_child(str(info_file), "rss", big, [])
            growth = (f["peak_after_kib"] - f["rss_before_kib"]) / 1024
            print(f"upload {args.rss_mb} MiB attachment: {f['status']} in {f['seconds']:.1f} s; "
                  f"RSS before {f['rss_before_kib'] / 1024:.1f} MiB, peak after "
                  f"{f['peak_after_kib'] / 1024:.1f} MiB (peak before "
                  f"{f['peak_before_kib'] / 1024:.1f} MiB): peak RSS grew {growth:.1f} MiB "
                  f"(goal <= 40 MB)")
            big.unlink()
            emu.reset()
            emu.control.configure(latency_ms=args.latency_ms, throttling={
                "enabled": True, "upload_window": args.upload_window})
        if args.part in ("send", "both"):
            size = int(args.size_mib * MiB)
            small = _file(Path(tmp), "five.bin", size)
            f = _run_child(str(info_file), "send", small, [
                "--emails", str(args.emails), "--workers", str(args.workers)])
            per_email = 3 + math.ceil(size / (4 * MiB))
            lat = args.latency_ms / 1000
            rt_floor = math.ceil(args.emails / min(args.workers, 4)) * per_email * lat
            bytes_floor = max(0, args.emails * size - UPLOAD_BUDGET) / UPLOAD_BUDGET \
                * args.upload_window
            floor = max(rt_floor, bytes_floor)
            throttled = len(emu.control.requests(status=429))
            sent = len([s for s in emu.control.sent()
                        if s.get("op") == "messages.send"]) - 1   # less the warm-up
            print(f"send {args.emails} emails x {args.size_mib:g} MiB with {args.workers} "
                  f"threads: {f['seconds']:.1f} s (median {f['median_email_s']:.2f} s per "
                  f"email), {sent} sent, {len(f['failures'])} failures, "
                  f"{throttled} x 429")
            print(f"floor = max(ceil({args.emails} / {min(args.workers, 4)}) x {per_email} "
                  f"x {args.latency_ms:g} ms = {rt_floor:.2f} s, max(0, {args.emails} x "
                  f"{args.size_mib:g} MiB - 150 MiB) / 150 MiB x {args.upload_window:g} s = "
                  f"{bytes_floor:.2f} s) = {floor:.2f} s; measured = "
                  f"{f['seconds'] / floor:.2f} x floor")


if __name__ == "__main__":
    main()

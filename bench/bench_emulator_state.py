"""``--state``: write throughput with and without it, control API answers during the burst,
and how long SIGTERM takes afterwards.

Runs ``m365bot emulator serve`` (a real subprocess on loopback) twice: without ``--state``,
then with a fresh ``--state`` folder. Each run sends ``--count`` sendMails (Alice → Bob, so
each send writes two messages) from ``--clients`` threads, while one more thread asks
``GET /_emulator/clock`` every 100 ms. Throttling is switched off, so that only the server's
own speed is measured. With ``--preload N`` the state first grows by N sends (a big state).

Run: ``.venv/bin/python bench/bench_emulator_state.py --count 1500``
"""

from __future__ import annotations

import argparse
import concurrent.futures
import tempfile
import threading
import time
from pathlib import Path

from emu_harness import ALICE, Served, load_line, mail, summary


def burst(srv: Served, token: str, count: int, clients: int, tag: str) -> tuple[float, int]:
    """Send ``count`` mails; (seconds, failures)."""
    local = threading.local()
    failures = 0
    lock = threading.Lock()

    def one(i: int) -> None:
        nonlocal failures
        c = getattr(local, "client", None)
        if c is None:
            c = local.client = srv.client(token)
        r = c.post(f"/v1.0/users/{ALICE}/sendMail", json=mail(f"{tag} {i}"))
        if r.status_code != 202:
            with lock:
                failures += 1

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(count)))
    return time.perf_counter() - t0, failures


def run(state_dir: Path | None, args: argparse.Namespace) -> None:
    label = "with --state" if state_dir else "without --state"
    with Served(state_dir=state_dir) as srv:
        token = srv.token()
        with srv.client() as c:
            c.post("/_emulator/settings", json={"throttling": False}).raise_for_status()
        if args.preload:
            burst(srv, token, args.preload, args.clients, "preload")
        stop = threading.Event()
        control_ms: list[float] = []
        threads: list[int] = []

        def watch() -> None:
            with srv.client() as c:
                while not stop.is_set():
                    t0 = time.perf_counter()
                    c.get("/_emulator/clock").raise_for_status()
                    control_ms.append((time.perf_counter() - t0) * 1000)
                    threads.append(srv.threads())
                    stop.wait(0.1)

        watcher = threading.Thread(target=watch)
        watcher.start()
        seconds, failures = burst(srv, token, args.count, args.clients, "burst")
        stop.set()
        watcher.join()
        rss = srv.rss_kb() / 1024
        exit_s = srv.stop()
    print(f"{label}: {args.count} sendMails in {seconds:.2f} s = {args.count / seconds:.0f}/s "
          f"({failures} not 202); control API during the burst: {summary(control_ms)}; "
          f"threads max {max(threads, default=0)}; RSS {rss:.0f} MB; "
          f"exit after SIGTERM {exit_s:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=1500)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--preload", type=int, default=0)
    args = parser.parse_args()
    run(None, args)
    with tempfile.TemporaryDirectory(prefix="m365bot-bench-state-") as tmp:
        run(Path(tmp) / "state", args)
        size = sum(p.stat().st_size for p in (Path(tmp) / "state").rglob("*") if p.is_file())
        print(f"state folder: {size / 1e6:.1f} MB")
    print(load_line())


if __name__ == "__main__":
    main()

"""How much the emulator's CONNECT proxy adds per request, on loopback.

Runs the emulator (demo scenario) in a subprocess, then times the same cheap GET (the JWKS
document) over one keep-alive HTTPS connection, direct (``https://127.0.0.1:PORT``) and
through the proxy (``https://login.microsoftonline.com`` via ``HTTPS_PROXY``), interleaved so
both see the same machine load. Prints the medians and their difference.
Goal (issue 2): the proxy adds at most 2 ms per request.

Run::

    .venv/bin/python bench/bench_emulator_proxy.py [--requests 500]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        info_file = Path(tmp) / "info.json"
        proc = subprocess.Popen(
            [sys.executable, "-m", "m365bot", "emulator", "serve", "--port", "0",
             "--proxy-port", "0", "--data-dir", tmp, "--info-file", str(info_file)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while not info_file.exists():
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("the emulator did not start")
                time.sleep(0.05)
            info = json.loads(info_file.read_text())
            run(info, args.requests)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)


def run(info: dict[str, object], n: int) -> None:
    tenant = "contoso.onmicrosoft.com"
    path = f"/{tenant}/discovery/v2.0/keys"
    ctx = ssl.create_default_context(cafile=str(info["ca_bundle"]))
    direct = httpx.Client(base_url=str(info["base_url"]), verify=ctx, trust_env=False)
    proxied = httpx.Client(base_url="https://login.microsoftonline.com", verify=ctx,
                           proxy=str(info["proxy_url"]), trust_env=False)
    times: dict[str, list[float]] = {"direct": [], "proxy": []}
    with direct, proxied:
        for client in (direct, proxied):  # warm up: TLS handshakes, code paths
            for _ in range(20):
                client.get(path).raise_for_status()
        for _ in range(n):
            for name, client in (("direct", direct), ("proxy", proxied)):
                start = time.perf_counter()
                client.get(path).raise_for_status()
                times[name].append((time.perf_counter() - start) * 1000)
    d = statistics.median(times["direct"])
    p = statistics.median(times["proxy"])
    print(f"requests per mode: {n} (keep-alive, loopback, cpu count {os.cpu_count()})")
    print(f"median direct: {d:.3f} ms")
    print(f"median proxy:  {p:.3f} ms")
    print(f"proxy adds:    {p - d:.3f} ms per request (goal <= 2 ms)")


if __name__ == "__main__":
    main()

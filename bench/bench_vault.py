"""Credential Vault timings: open, unlock (raw key and scrypt), get, put_blob, get_blob,
and a fresh process that opens, unlocks with a key and reads one value. Prints medians.

    .venv/bin/python bench/bench_vault.py
"""

from __future__ import annotations

import base64
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from m365bot.vault import AttributeSpec, Vault


def median_ms(fn: Callable[[], object], n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    path = tmp / "vault.db"
    key = os.urandom(32)
    with Vault.open(path, actor="alice") as v:
        v.initialize(key=key)
        v.create_locker("bots")
        v.set_credential("bots", "o365", {"client_secret": AttributeSpec("bench-secret")})
        v.put_blob("token_cache", "k", os.urandom(4096))
    pp_path = tmp / "pp.db"
    with Vault.open(pp_path, actor="alice") as v:
        v.initialize(passphrase="bench passphrase")

    def open_close() -> None:
        Vault.open(path, actor="alice").close()

    print(f"open (schema current)      {median_ms(open_close, 20):8.2f} ms")
    v = Vault.open(path, actor="alice")
    print(f"unlock, raw key            {median_ms(lambda: v.unlock(key=key), 20):8.2f} ms")
    p = Vault.open(pp_path, actor="alice")
    print(f"unlock, scrypt N=2^15      "
          f"{median_ms(lambda: p.unlock(passphrase='bench passphrase'), 10):8.2f} ms")
    p.close()
    print(f"get (audited read)         "
          f"{median_ms(lambda: v.get('bots', 'o365', 'client_secret'), 100):8.2f} ms")
    data = os.urandom(4096)
    print(f"put_blob 4 KiB (FULL sync) "
          f"{median_ms(lambda: v.put_blob('token_cache', 'k', data), 100):8.2f} ms")
    print(f"get_blob 4 KiB             "
          f"{median_ms(lambda: v.get_blob('token_cache', 'k'), 100):8.2f} ms")
    v.close()
    code = ("import sys,base64; from m365bot.vault import Vault; "
            "v=Vault.open(sys.argv[1], actor='alice'); v.unlock(key=base64.b64decode(sys.argv[2]));"
            " v.get('bots','o365','client_secret')")
    args = [sys.executable, "-c", code, str(path), base64.b64encode(key).decode()]
    fresh = median_ms(lambda: subprocess.run(args, check=True), 10)
    bare = median_ms(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), 10)
    print(f"fresh process open+unlock+get {fresh:8.2f} ms (python -c pass: {bare:.2f} ms)")


if __name__ == "__main__":
    main()

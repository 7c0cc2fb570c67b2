"""Connect-level figures (issue 3), against the in-process emulator over real HTTPS through
its proxy mode. Prints medians.

1. ``import m365bot``: median of ``python -c "import m365bot"`` minus ``python -c pass``
   (goal: at most 60 ms).
2. A fresh process connecting with a cached token: requests it sends to the identity
   platform (goal: 0).
3. Connect + the first Graph call in a fresh process, against
   ``python -c pass`` + the round trips it needs (Connect's one Graph request and the first
   call: the first opens the proxy tunnel and TLS, the second reuses it; goal: ratio at
   most 1.5). Since issue 10 a process whose cached token already passed Connect's mailbox
   check skips it: the Graph requests per process are printed too.

``--latency-ms 50 --top 50`` is issue 10's B1 (a bot process: connect with a cached token,
list the 50 newest messages). ``--src DIR`` also runs the bot process on another checkout's
``src`` (``git archive main src | tar -x -C /tmp/main``), alternating with this one's so that
the machine's load falls on both alike: a before/after figure.

Usage::

    .venv/bin/python bench/bench_connect.py [--runs 15] [--latency-ms 50] [--top 50] [--src DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHILD = r"""
import os, sys, time
t0 = time.perf_counter()
import m365bot
from m365bot.config import Settings
from m365bot.values import CredentialRef
from m365bot.vault import Vault
s = Settings.from_env()
vault = Vault.open(os.environ["BENCH_VAULT"], actor="bench")
vault.unlock(key=os.environ["M365BOT_VAULT_KEY"])
sess = m365bot.connect(cloud="global", mode="client-credentials",
    client_id=os.environ["BENCH_CID"], tenant_id=os.environ["BENCH_TID"],
    username="ops@contoso.onmicrosoft.com",
    client_secret=CredentialRef("bench", "o365", "client_secret"), settings=s, vault=vault)
r = sess.graph_get("/users/ops@contoso.onmicrosoft.com/mailFolders/inbox/messages",
                   params={"$top": int(os.environ["BENCH_TOP"]), "$select": "subject",
                           "$orderby": "receivedDateTime desc"})
assert r.status == 200
print(f"{(time.perf_counter() - t0) * 1000:.1f}")
"""


# the same steps as CHILD, with a clock reading after each (where the fresh process's time goes)
PHASES = r"""
import os, time
T = [time.perf_counter()]
names = []
def mark(name):
    T.append(time.perf_counter()); names.append(name)
import m365bot
from m365bot.config import Settings
from m365bot.values import CredentialRef
mark("import m365bot, config, values (dataclasses, inspect, re, pathlib)")
from m365bot.vault import Vault
mark("import m365bot.vault (cryptography AESGCM, sqlite3)")
s = Settings.from_env()
vault = Vault.open(os.environ["BENCH_VAULT"], actor="bench")
vault.unlock(key=os.environ["M365BOT_VAULT_KEY"])
mark("Vault.open + unlock")
import m365bot.connection, m365bot.sessions, m365bot.auth.modes
mark("import connect, sessions, auth.modes (no msal)")
import m365bot.graph.client
mark("import graph.client (httpx, httpcore, h2, ssl)")
sess = m365bot.connect(cloud="global", mode="client-credentials",
    client_id=os.environ["BENCH_CID"], tenant_id=os.environ["BENCH_TID"],
    username="ops@contoso.onmicrosoft.com",
    client_secret=CredentialRef("bench", "o365", "client_secret"), settings=s, vault=vault)
mark("connect: secret read + audit, cached token (+ tunnel, TLS, check unless remembered)")
r = sess.graph_get("/users/ops@contoso.onmicrosoft.com/mailFolders/inbox/messages",
                   params={"$top": int(os.environ["BENCH_TOP"]), "$select": "subject",
                           "$orderby": "receivedDateTime desc"})
mark("first Graph call")
print("\n".join(f"{(T[i + 1] - T[i]) * 1000:.3f}\t{n}" for i, n in enumerate(names)))
"""


def _phases(py: str, env: dict[str, str], runs: int) -> None:
    got: dict[str, list[float]] = {}
    for _ in range(runs):
        out = subprocess.run([py, "-c", PHASES], env=env, check=True, capture_output=True,
                             text=True).stdout
        for line in out.splitlines():
            ms, name = line.split("\t", 1)
            got.setdefault(name, []).append(float(ms))
    print("where a fresh Connect + first call spends its time (medians, inside the process):")
    for name, values in got.items():
        print(f"  {statistics.median(values):6.1f} ms  {name}")
    print(f"  {sum(statistics.median(v) for v in got.values()):6.1f} ms  total after "
          "interpreter start-up")


def _before_after(py: str, env: dict[str, str], src: Path, pycache: Path, runs: int,
                  emu: Any) -> None:
    """This checkout's bot process against ``src``'s, alternating, so that the machine's
    load falls on both alike: medians of wall time and of the process's CPU time (user +
    system, which a busy machine stretches less), and Graph requests per process."""
    other = dict(env, PYTHONPATH=str(src.resolve()), PYTHONPYCACHEPREFIX=str(pycache))
    _time([py, "-c", CHILD], other)  # its bytecode
    walls: dict[str, list[float]] = {"this checkout": [], str(src): []}
    cpus: dict[str, list[float]] = {name: [] for name in walls}
    graph: dict[str, int] = dict.fromkeys(walls, 0)
    for i in range(2 * runs):
        name, e = (("this checkout", env), (str(src), other))[i % 2]
        emu.control.clear()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        walls[name].append(_time([py, "-c", CHILD], e))
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus[name].append((after.ru_utime - before.ru_utime + after.ru_stime
                           - before.ru_stime) * 1000)
        graph[name] += sum(1 for r in emu.control.requests() if r.get("role") == "graph")
    for name, values in walls.items():
        print(f"  {name}: wall median {statistics.median(values):7.1f} ms (min "
              f"{min(values):.1f}, max {max(values):.1f}), CPU median "
              f"{statistics.median(cpus[name]):6.1f} ms, {graph[name] / runs:.1f} Graph "
              "requests per process")
    (a, b), (c, d) = ((statistics.median(v) for v in m.values()) for m in (walls, cpus))
    print(f"  this checkout / {src}: wall {a / b:.2f}, CPU {c / d:.2f}")


def _time(argv: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, check=True, capture_output=True)
    return (time.perf_counter() - t0) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--latency-ms", type=float, default=0.0, help="the emulator's latency")
    ap.add_argument("--top", type=int, default=1, help="messages the first call lists")
    ap.add_argument("--src", type=Path, default=None,
                    help="run the bot processes on this checkout's src (before/after)")
    args = ap.parse_args()
    runs = args.runs
    py = sys.executable
    # An installed package has its bytecode compiled (pip does it); this environment sets
    # PYTHONDONTWRITEBYTECODE, which would make every fresh process compile m365bot again.
    env0 = {k: v for k, v in os.environ.items()
            if not k.startswith("M365BOT_") and k != "PYTHONDONTWRITEBYTECODE"}
    _time([py, "-c", "import m365bot.connection, m365bot.graph.client, m365bot.vault"], env0)

    passes = [_time([py, "-c", "pass"], env0) for _ in range(runs)]
    imports = [_time([py, "-c", "import m365bot"], env0) for _ in range(runs)]
    p_med, i_med = statistics.median(passes), statistics.median(imports)
    print(f"python -c pass:          median {p_med:7.1f} ms")
    print(f"python -c import m365bot: median {i_med:7.1f} ms  -> import m365bot "
          f"{i_med - p_med:5.1f} ms (goal <= 60)")

    inproc = []
    for _ in range(runs):
        out = subprocess.run([py, "-c", "import time; t = time.perf_counter(); import m365bot; "
                              "print((time.perf_counter() - t) * 1000)"], env=env0,
                             check=True, capture_output=True, text=True).stdout
        inproc.append(float(out))
    print(f"import m365bot measured inside the process: median {statistics.median(inproc):.1f} ms")

    # where a fresh Connect's time goes: importing what it needs
    # the peers: msal (which imports requests) and requests alone, beside httpx
    for stmt in ("import httpx", "import msal", "import requests",
                 "import m365bot.connection, m365bot.graph.client, m365bot.vault, "
                 "m365bot.auth.modes"):
        t = statistics.median(_time([py, "-c", stmt], env0) for _ in range(runs))
        print(f"python -c {stmt!r}: median {t:7.1f} ms ({t - p_med:.1f} ms over pass)")

    from m365bot.config import Settings
    from m365bot.connection import connect
    from m365bot.emulator.runtime import Emulator
    from m365bot.net import HttpFactory
    from m365bot.values import CredentialRef
    from m365bot.vault import AttributeSpec, Vault, new_raw_key

    with tempfile.TemporaryDirectory() as tmp, Emulator.start(
            scenario="demo", latency_ms=args.latency_ms) as emu:
        info = emu.info
        tid = next(t["id"] for t in info["tenants"] if t["cloud"] == "global")
        app = next(a for a in info["apps"] if a["tenant_id"] == tid and a["name"] ==
                   "m365bot-demo")
        secret = max(app["secrets"], key=lambda s: s["expires"])["value"]
        key = new_raw_key()
        vpath = Path(tmp) / "vault.db"
        settings = Settings(data_dir=Path(tmp) / "home", proxy=info["proxy_url"],
                            ca_bundle=info["ca_bundle"])
        with Vault.open(vpath, actor="bench") as vault:
            vault.initialize(key=key)
            vault.create_locker("bench")
            vault.set_credential("bench", "o365", {"client_secret": AttributeSpec(secret)})
            s = connect(cloud="global", mode="client-credentials", client_id=app["client_id"],
                        tenant_id=tid, username="ops@contoso.onmicrosoft.com",
                        client_secret=CredentialRef("bench", "o365", "client_secret"),
                        settings=settings, vault=vault)  # fills the shared token cache
            s.close()

        # round trip on a warm connection, same path as the bench's Graph calls
        token = s.token_provider.get_token().token.reveal()
        rtts = []
        with HttpFactory(settings).client(http2=True) as c:
            url = "https://graph.microsoft.com/v1.0/users/ops@contoso.onmicrosoft.com/mailFolders/inbox"
            for _ in range(runs + 1):
                t0 = time.perf_counter()
                c.get(url, params={"$select": "id"}, headers={"Authorization": "Bearer " + token})
                rtts.append((time.perf_counter() - t0) * 1000)
        rtt = statistics.median(rtts[1:])
        # the first request of a fresh process also opens the tunnel: TCP, CONNECT, TLS
        colds = []
        for _ in range(runs):
            with HttpFactory(settings).client(http2=True) as c:
                t0 = time.perf_counter()
                c.get(url, params={"$select": "id"}, headers={"Authorization": "Bearer " + token})
                colds.append((time.perf_counter() - t0) * 1000)
        cold = statistics.median(colds)

        env = dict(env0, M365BOT_HOME=str(Path(tmp) / "home"), M365BOT_PROXY=info["proxy_url"],
                   M365BOT_CA_BUNDLE=info["ca_bundle"], M365BOT_VAULT_KEY=key,
                   BENCH_VAULT=str(vpath), BENCH_CID=app["client_id"], BENCH_TID=tid,
                   BENCH_TOP=str(args.top))
        _time([py, "-c", CHILD], env)  # warm-up: bytecode and OS caches
        emu.control.clear()
        fresh = [_time([py, "-c", CHILD], env) for _ in range(runs)]
        identity = [r for r in emu.control.requests() if r.get("role") == "login"]
        graph = [r for r in emu.control.requests() if r.get("role") == "graph"]
        print(f"Graph requests per fresh process: {len(graph) / runs:.1f} "
              f"(latency {args.latency_ms:g} ms each)")
        if args.src is not None:
            _before_after(py, env, args.src, Path(tmp) / "pycache", runs, emu)
        f_med = statistics.median(fresh)
        floor = p_med + cold  # a bare interpreter + the one request a bot needs (cold)
        print(f"fresh processes with a cached token: {len(identity)} identity-platform "
              f"requests in {runs} runs (goal 0)")
        print(f"round trip via proxy: warm median {rtt:6.1f} ms, first (tunnel + TLS) "
              f"median {cold:6.1f} ms")
        print(f"fresh process Connect + first Graph call: median {f_med:7.1f} ms "
              f"(min {min(fresh):.1f}, max {max(fresh):.1f})")
        print(f"ratio to the floor (python -c pass + one first request = {floor:.1f} ms): "
              f"{f_med / floor:.2f}; to pass + first + warm round trip: "
              f"{f_med / (floor + rtt):.2f} (goal <= 1.5)")
        _phases(py, env, runs)


if __name__ == "__main__":
    main()

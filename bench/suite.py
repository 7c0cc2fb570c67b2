"""The side-by-side benchmark suite (issue 10): m365bot (sync and async), python-o365,
msgraph-sdk + azure-identity and a naive requests + msal loop, on the emulator with Outlook's
throttling on, at 50 ms and at 0 ms of latency per round trip.

Each contender is a small program (``bench/peers/*_peer.py``) run once per measurement as a
subprocess in its own venv (``bench/venvs.py``); it reaches the emulator only through
``HTTPS_PROXY`` and the CA variables (m365bot through its own ``M365BOT_PROXY`` and
``M365BOT_CA_BUNDLE``) and prints one line of figures. Each case is run once untimed (token
caches, bytecode) and then ``--runs`` times; the report gives min, median and max.

Cases (floors in ``floors.py``):

* B1: a whole bot process: connect with a cached token, list the 50 newest messages.
* B2: list 10,000 messages, 5 fields.
* B3: move 1,000 messages (429 answers counted).
* B4: save the attachments of 50 emails x 10 MiB; the process's peak RSS.
* B5: send 100 emails, each with a 5 MiB attachment.
* B6: ``import`` time, B1's peak RSS, installed size.

Run::

    .venv/bin/python -m bench --smoke            # small sizes, 1 run, 50 ms only
    .venv/bin/python -m bench --smoke --contenders m365bot-sync,m365bot-async  # ~1 minute
    .venv/bin/python -m bench                    # the full suite (writes docs/benchmarks/)
    .venv/bin/python -m bench --cases B2,B3 --contenders m365bot-sync,naive --runs 3
    .venv/bin/python -m bench --report-only      # the table and chart from results.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report, venvs
from bench.world import DOMAIN, MiB, Sizes, World

ROOT = Path(__file__).resolve().parent.parent
PEERS = Path(__file__).resolve().parent / "peers"
CASES = ("B1", "B2", "B3", "B4", "B5", "B6")
# contender -> (venv name or None for this interpreter, program, extra config)
CONTENDERS: dict[str, tuple[str | None, str, dict[str, Any]]] = {
    "m365bot-sync": (None, "m365bot_peer.py", {"variant": "sync"}),
    "m365bot-async": (None, "m365bot_peer.py", {"variant": "async"}),
    "o365": ("o365", "o365_peer.py", {}),
    "msgraph": ("msgraph", "msgraph_peer.py", {}),
    "naive": ("naive", "naive_peer.py", {}),
}
# what a user of each writes first (B6's import time)
# (``import m365bot`` alone is lazy: a bot's Connect and first mail action import the rest)
BOT_IMPORTS = ("import m365bot, m365bot.connection, m365bot.sessions, m365bot.outlook.mail, "
               "m365bot.graph.client")
IMPORTS = {
    "m365bot-sync": BOT_IMPORTS,
    "m365bot-async": BOT_IMPORTS,
    "o365": "from O365 import Account",
    "msgraph": "from msgraph import GraphServiceClient; "
               "from azure.identity.aio import ClientSecretCredential",
    "naive": "import requests, msal",
}
FULL = Sizes()
# Full mode as run on the 2-core shared machine: B4 and B5 smaller, and said so in the table.
FULL_REDUCED = Sizes(attachments=10, emails=28)
SMOKE = Sizes(b1_top=50, listing=300, moves=40, attachments=2, attachment_mib=1, emails=4,
              email_mib=5.0)


def clean_env() -> dict[str, str]:
    """This environment less m365bot's variables, proxy and CA settings (set per emulator)
    and PYTHONDONTWRITEBYTECODE (an installed package has its bytecode compiled)."""
    drop = {"PYTHONDONTWRITEBYTECODE", "NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy",
            "ALL_PROXY", "all_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE",
            "SSL_CERT_DIR"}
    return {k: v for k, v in os.environ.items()
            if k not in drop and not k.startswith("M365BOT_")}


class Runner:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.sizes: Sizes = args.sizes
        self.pythons: dict[str, Path] = {}
        self.records: list[dict[str, Any]] = []
        self.b3_side: dict[str, int] = {}

    def python(self, contender: str) -> Path:
        venv = CONTENDERS[contender][0]
        if venv is None:
            return Path(sys.executable)
        if venv not in self.pythons:
            self.pythons[venv] = venvs.ensure(Path(self.args.venvs), venv)
        return self.pythons[venv]

    def home(self, contender: str, case: str) -> Path:
        """The contender's home (token caches) for the emulator ``case`` runs on: each
        emulator signs its own tokens."""
        home = self.work / "homes" / ("sender" if case == "B5" else "main") / contender
        home.mkdir(parents=True, exist_ok=True)
        return home

    def vault(self, home: Path, cfg: dict[str, Any]) -> dict[str, str]:
        """A Credential Vault in ``home`` with the app's secret (m365bot reads it from there,
        as a bot does); made once per home."""
        from m365bot.vault import AttributeSpec, Vault, new_raw_key

        path, keyfile = home / "vault.db", home / "vault.key"
        if not path.exists():
            key = new_raw_key()
            with Vault.open(path, actor="bench") as v:
                v.initialize(key=key)
                v.create_locker("bench")
                v.set_credential("bench", "o365",
                                 {"client_secret": AttributeSpec(cfg["client_secret"])})
            keyfile.write_text(key)
        return {"vault": str(path), "vault_key": keyfile.read_text()}

    def run_peer(self, contender: str, cfg: dict[str, Any], emu_env: dict[str, str],
                 timeout: float | None = None) -> tuple[float, dict[str, Any]]:
        """Run one contender program; (wall seconds of the process, its figures)."""
        _, program, extra = CONTENDERS[contender]
        home = self.home(contender, cfg["case"])
        full = {**cfg, **extra, "home": str(home)}
        if CONTENDERS[contender][0] is None:
            full.update(self.vault(home, cfg))
        path = self.work / f"cfg-{contender}.json"
        path.write_text(json.dumps(full))
        env = {**clean_env(), **emu_env, "HOME": str(home), "M365BOT_HOME": str(home / "m365bot"),
               "PYTHONFAULTHANDLER": "1"}
        timeout = timeout or self.args.peer_timeout
        t0 = time.perf_counter()
        proc = subprocess.Popen([str(self.python(contender)), str(PEERS / program), str(path)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)      # faulthandler prints where it hangs
            stdout, stderr = proc.communicate()
            raise SystemExit(f"bench: {contender} {cfg['case']} took over {timeout:g} s:\n"
                             f"{stderr[-4000:]}") from None
        wall = time.perf_counter() - t0
        if proc.returncode != 0 or not stdout.strip():
            raise SystemExit(f"bench: {contender} {cfg['case']} failed (exit "
                             f"{proc.returncode}):\n{stderr[-4000:]}")
        return wall, json.loads(stdout.strip().splitlines()[-1])

    def case_config(self, case: str, contender: str, latency: float, world: World,
                    run: int) -> tuple[dict[str, Any], Any]:
        """The program's config for one run, and the emulator it talks to."""
        s = self.sizes
        emu = world.sender if case == "B5" else world.main
        cfg: dict[str, Any] = {"case": case, **emu.app_config()}
        if case in ("B1", "B2"):
            cfg.update(mailbox=f"alice@{DOMAIN}", folder="archive",
                       n=s.b1_top if case == "B1" else s.listing)
        elif case == "B3":
            k = self.mover_index(contender, latency)
            side = self.b3_side.get(f"{k}", 0)
            names = ("Bench A", "Bench B")
            cfg.update(mailbox=f"mover-{k}@{DOMAIN}", source=names[side],
                       dest=names[1 - side], n=s.moves)
        elif case == "B4":
            out = self.work / "saved" / contender
            out.mkdir(parents=True, exist_ok=True)
            for p in out.iterdir():
                p.unlink()
            cfg.update(mailbox=f"carol@{DOMAIN}", folder="inbox", subject="Scan", out=str(out),
                       n=s.attachments)
        elif case == "B5":
            cfg.update(mailbox=f"alice@{DOMAIN}", to="records@example.com", n=s.emails,
                       file=str(self.attachment_file()))
        return cfg, emu

    def mover_index(self, contender: str, latency: float) -> int:
        names = list(CONTENDERS)
        return names.index(contender) + len(names) * self.args.latencies.index(latency)

    def attachment_file(self) -> Path:
        path = self.work / "attachment.bin"
        if not path.exists():
            path.write_bytes(os.urandom(int(self.sizes.email_mib * MiB)))
        return path

    def measure(self, case: str, contender: str, latency: float, world: World) -> None:
        # B1 (a whole process) has one untimed run first: the token cache filled, bytecode
        # written. B2-B5 are timed inside the process after a warm-up request.
        runs = self.args.runs if latency or self.args.runs_0ms is None else self.args.runs_0ms
        t_case = time.perf_counter()
        for run in range(-1 if case == "B1" else 0, runs):
            if run > 0 and time.perf_counter() - t_case > self.args.case_budget:
                break       # a slow contender: fewer runs (the table counts them)
            cfg, emu = self.case_config(case, contender, latency, world, run)
            if case == "B5":
                emu.reset()    # a fresh upload budget and no pile of sent copies
                emu.settings(latency)
            before = emu.throttled()
            wall, fig = self.run_peer(contender, cfg, emu.env())
            if case == "B3":
                k = f"{self.mover_index(contender, latency)}"
                self.b3_side[k] = 1 - self.b3_side.get(k, 0)
            expected = cfg.get("n")
            if expected is not None and fig.get("items") != expected:
                raise SystemExit(f"bench: {contender} {case}: {fig.get('items')} items, "
                                 f"expected {expected}")
            if run < 0:
                continue
            self.records.append({
                "case": case, "contender": contender, "latency_ms": latency, "run": run,
                "seconds": wall if case == "B1" else fig["seconds"],
                "peak_rss_mb": fig.get("peak_rss_mb"), "items": fig.get("items"),
                "throttled": emu.throttled() - before})
        got = [r["seconds"] for r in self.records if r["case"] == case
               and r["contender"] == contender and r["latency_ms"] == latency]
        print(f"  {case} {contender:14} {latency:g} ms: median {statistics.median(got):.3f} s "
              f"({len(got)} runs)", file=sys.stderr, flush=True)

    def timing(self, argv: list[str]) -> float:
        t0 = time.perf_counter()
        subprocess.run(argv, env=clean_env(), check=True, capture_output=True)
        return time.perf_counter() - t0

    def b6(self, contenders: list[str]) -> dict[str, Any]:
        """Import times (medians of a fresh process, less ``python -c pass``) and installed
        sizes (site-packages of a venv with only that library, less pip)."""
        runs = max(self.args.runs, 5)
        out: dict[str, Any] = {"import_s": {}, "installed_mib": {}}
        for contender in contenders:
            py = str(self.python(contender))
            self.timing([py, "-c", IMPORTS[contender]])   # bytecode
            passes = [self.timing([py, "-c", "pass"]) for _ in range(runs)]
            imports = [self.timing([py, "-c", IMPORTS[contender]]) for _ in range(runs)]
            out["import_s"][contender] = [i - statistics.median(passes) for i in imports]
        sized = {c: CONTENDERS[c][0] for c in contenders}
        for contender, venv in sized.items():
            if venv is None and not self.args.no_m365bot_size:
                py = venvs.ensure(Path(self.args.venvs), "m365bot", [str(ROOT)])
            elif venv is None:
                continue
            else:
                py = self.python(contender)
            out["installed_mib"][contender] = venvs.site_packages_mib(py)
        return out


def machine() -> dict[str, Any]:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1]
    return {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(int(mem) / 1024 ** 2),
            "python": platform.python_version(), "os": platform.platform(terse=True),
            "kind": "python-svc (2 cores, shared by several sessions)",
            "load_average": round(os.getloadavg()[0], 2)}


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="small sizes, 1 run (CI)")
    ap.add_argument("--runs", type=int, help="measured runs per case (default 5; smoke 1)")
    ap.add_argument("--case-budget", type=float, default=150.0,
                    help="seconds after which a contender's runs of one case stop early "
                         "(at least one run; default 150)")
    ap.add_argument("--runs-0ms", type=int, default=None,
                    help="measured runs at 0 ms (default 3: CPU cost; smoke: --runs)")
    ap.add_argument("--latency-ms", default=None,
                    help="latencies per round trip, comma-separated (default 50,0; smoke 50)")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--contenders", default=",".join(CONTENDERS))
    ap.add_argument("--full-size", action="store_true",
                    help="B4 500 MB and B5 100 emails (default: 100 MB and 28 emails)")
    ap.add_argument("--venvs", default=str(ROOT / ".bench-venvs"), help="venv cache folder")
    ap.add_argument("--out", default=None,
                    help="folder for results.json/.md and ratios.png "
                         "(default docs/benchmarks; smoke: a temporary folder)")
    ap.add_argument("--peer-timeout", type=float, default=None,
                    help="seconds one contender run may take (default 900; smoke 120)")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--no-m365bot-size", action="store_true",
                    help="skip building a venv with m365bot installed for B6's size")
    args = ap.parse_args(argv)
    args.runs = args.runs or (1 if args.smoke else 5)
    args.peer_timeout = args.peer_timeout or (120.0 if args.smoke else 900.0)
    if args.runs_0ms is None and not args.smoke and args.runs >= 3:
        args.runs_0ms = 3
    args.latency_ms = args.latency_ms or ("50" if args.smoke else "50,0")
    args.latencies = [float(x) for x in args.latency_ms.split(",") if x.strip()]
    args.no_m365bot_size = args.no_m365bot_size or args.smoke
    args.case_list = [c.strip().upper() for c in args.cases.split(",") if c.strip()]
    args.contender_list = [c.strip() for c in args.contenders.split(",") if c.strip()]
    for c in args.case_list:
        if c not in CASES:
            ap.error(f"--cases: unknown case {c!r}; choose from {', '.join(CASES)}")
    for c in args.contender_list:
        if c not in CONTENDERS:
            ap.error(f"--contenders: unknown {c!r}; choose from {', '.join(CONTENDERS)}")
    args.sizes = SMOKE if args.smoke else FULL if args.full_size else FULL_REDUCED
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    out = Path(args.out) if args.out else (None if args.smoke else ROOT / "docs" / "benchmarks")
    with tempfile.TemporaryDirectory(prefix="m365bot-suite-") as tmp:
        out = out or Path(tmp) / "out"
        out.mkdir(parents=True, exist_ok=True)
        if args.report_only:
            results = json.loads((out / "results.json").read_text())
        else:
            results = run(args, Path(tmp))
            (out / "results.json").write_text(json.dumps(results, indent=1))
        report.write(results, out)
        if out == ROOT / "docs" / "benchmarks":
            report.update_readme(results, ROOT / "README.md")
        print((out / "results.md").read_text())


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    runner = Runner(args, work)
    contenders = args.contender_list
    for c in contenders:
        runner.python(c)          # install the peers first: a failed install stops here
    t0 = time.perf_counter()
    passes = [runner.timing([sys.executable, "-c", "pass"]) for _ in range(max(5, args.runs))]
    timed_cases = [c for c in args.case_list if c != "B6"]
    if timed_cases or "B6" in args.case_list:
        movers = len(CONTENDERS) * len(args.latencies)
        with World(work / "world", args.sizes, movers) as world:
            for latency in args.latencies:
                world.set_latency(latency)
                print(f"bench: latency {latency:g} ms", file=sys.stderr, flush=True)
                cases = list(timed_cases)
                if "B6" in args.case_list and "B1" not in cases:
                    cases.insert(0, "B1")     # B6 reports B1's peak RSS
                for case in cases:
                    for contender in contenders:
                        runner.measure(case, contender, latency, world)
    b6 = runner.b6(contenders) if "B6" in args.case_list else None
    return {"machine": machine(), "sizes": vars(args.sizes), "runs": args.runs,
            "smoke": args.smoke, "full_size": args.full_size, "latencies": args.latencies,
            "runs_0ms": args.runs_0ms, "case_budget": args.case_budget,
            "python_pass_s": passes, "records": runner.records, "b6": b6,
            "contenders": contenders, "cases": args.case_list,
            "suite_seconds": time.perf_counter() - t0}

"""Bulk actions (issue 8, "Performance"): move 1,000 messages, and save attachments totalling
500 MB, against the emulator with 50 ms of latency per round trip and Outlook's throttling on.

The emulator runs in its own process (``m365bot emulator serve``), as Graph does.

**Floor of moving N messages.** The emulator enforces Outlook's documented rules: at most 4
requests in flight per app and mailbox; at most 20 sub-requests per ``$batch``; a ``$batch``'s
sub-requests count against the in-flight limit (Outlook runs at most 4 of them at once, and
concurrent batches to one mailbox share the limit). A ``$batch`` of 20 therefore holds all 4
slots of the mailbox while it runs, so batches to one mailbox go one after another, each one
network round trip (its sub-requests run inside the service, 4 at a time, without a round
trip of their own):

    floor = ceil(N / 20) x latency = ceil(1000 / 20) x 50 ms = 2.5 s

The service's own time to run the 20 moves of a batch, 4 at a time (``5 x s`` for ``s`` ms
per move), is extra; it is measured as the wall time of a raw ``$batch`` call of 20 moves
less the latency, and printed next to the floor (``floor + service``). Goal: median
≤ 1.5 x floor, with 0 answers of 429 (counted from the emulator's request records).

The messages of each round are chosen (listed by id) before the clock starts; the timed part
is ``session.mail.move_all(dest, ids=...)``: the batches, the journal writes and the results.

**Saving attachments totalling 500 MB**: ``session.attachments.save_matching`` over 50
emails with one 10 MB attachment each, in a child process whose peak RSS (``ru_maxrss``) is
reported. Goal: ≤ 100 MB (the bodies stream to disk). The peak is the child's ``VmHWM``
(``/proc/self/status``): on Linux ``ru_maxrss`` keeps the high-water mark from before
``exec``, so a child forked from this process (which holds the 500 MB scenario while it
writes it) would report this process's size; ``ru_maxrss`` is printed too.

Run: ``.venv/bin/python bench/bench_bulk.py [--messages 1000] [--latency-ms 50]
[--rounds 5] [--save-mb 500]``
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from emu_harness import Served, open_session

import m365bot
from m365bot.sessions import Session

DOMAIN = "contoso.onmicrosoft.com"
MOVER, SAVER = "alice", "bob"
MB = 1024 * 1024
ATTACHMENT_MB = 10


def scenario(messages: int, rounds: int, save_mb: int) -> dict[str, Any]:
    """Alice: ``rounds`` groups of ``messages`` in Archive; Bob: emails with 10 MB files."""
    from m365bot.emulator.scenario import load_spec

    spec = load_spec("demo")
    users = {u["name"]: u for u in spec["tenants"][0]["users"]}
    alice = users[MOVER].setdefault("mailbox", {})
    alice.setdefault("messages", []).extend(
        {"folder": "archive", "subject": f"R{r} message {i}", "from": "shop@example.com",
         "to": [f"{MOVER}@{DOMAIN}"], "body": "x"} for r in range(rounds)
        for i in range(messages))
    alice.setdefault("folders", []).extend({"name": f"Done {r}"} for r in range(rounds))
    blob = base64.b64encode(os.urandom(ATTACHMENT_MB * MB)).decode()
    bob = users[SAVER].setdefault("mailbox", {})
    bob.setdefault("messages", []).extend(
        {"folder": "inbox", "subject": f"Scan {i}", "from": "scanner@example.com",
         "to": [f"{SAVER}@{DOMAIN}"], "body": "scan",
         "attachments": [{"name": f"scan{i}.bin", "content_base64": blob}]}
        for i in range(save_mb // ATTACHMENT_MB))
    return spec


def serve(tmp: Path, spec: dict[str, Any], latency_ms: float) -> Served:
    path = tmp / "scenario.json"
    path.write_text(json.dumps(spec))
    return Served(scenario=path, latency_ms=latency_ms, start_timeout=900)


def count_429(info: dict[str, Any]) -> int:
    """429 answers since the start, as the emulator recorded them (batch items included)."""
    import httpx

    with httpx.Client(verify=info["ca_bundle"], trust_env=False, timeout=60) as client:
        r = client.get(f"{info['control_url']}/requests", params={"status": 429})
        r.raise_for_status()
        return len(r.json())


def move_round(session: Session, r: int, n: int) -> float:
    ids = [e.id for e in session.mail.list("archive", subject_contains=f"R{r} message",
                                           fields=["subject"])]
    assert len(ids) == n, len(ids)
    session.folders.get(f"Done {r}")
    t0 = time.perf_counter()
    results = session.mail.move_all(f"Done {r}", ids=ids, job=f"bench-{r}")
    elapsed = time.perf_counter() - t0
    assert len(results) == n and all(r.ok for r in results)
    return elapsed


def batch_server_ms(session: Session, latency_ms: float) -> float:
    """The service's time for one $batch of 20 moves, 4 at a time: the wall time of a raw
    ``$batch`` call less one round trip of latency (median of 3 batches)."""
    box = f"/users/{session.mailbox}"
    ids = [e.id for e in session.mail.list("archive", subject_contains="R0 message",
                                           fields=["subject"], limit=60)]
    target = session.folders.get("Done 0").id
    times = []
    for k in range(min(3, len(ids) // 20)):
        reqs = [{"id": str(i), "method": "POST", "url": f"{box}/messages/{m}/move",
                 "body": {"destinationId": target},
                 "headers": {"Content-Type": "application/json"}}
                for i, m in enumerate(ids[20 * k:20 * k + 20])]
        t0 = time.perf_counter()
        session.graph.post("/$batch", json={"requests": reqs})
        times.append((time.perf_counter() - t0) * 1000 - latency_ms)
    return statistics.median(times) if times else 0.0


_CHILD = """
import json, resource, sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from emu_harness import open_session
info = json.loads(Path(sys.argv[1]).read_text())
s = open_session(info, Path(sys.argv[2]) / "home", "bob")
out = Path(sys.argv[2]) / "saved"
results = s.attachments.save_matching(out, folder="Inbox", subject_contains="Scan",
                                      job="bench-save")
size = sum(p.stat().st_size for p in out.iterdir())
assert all(r.ok for r in results), [r for r in results if not r.ok][:3]
hwm = next(int(line.split()[1]) for line in open("/proc/self/status")
           if line.startswith("VmHWM:"))
print(json.dumps({"files": len(results), "bytes": size, "peak_rss_mb": hwm / 1024,
                  "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def save_child(tmp: Path, info_file: Path, rounds: int) -> list[dict[str, Any]]:
    runs = []
    for k in range(rounds):
        work = tmp / f"save{k}"
        work.mkdir()
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(info_file), str(work),
                               str(Path(__file__).parent)], capture_output=True, text=True,
                              timeout=1800)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-3000:])
        data = json.loads(proc.stdout.strip().splitlines()[-1])
        data["seconds"] = time.perf_counter() - t0
        runs.append(data)
        for p in (work / "saved").iterdir():
            p.unlink()
    return runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--save-mb", type=int, default=500)
    ap.add_argument("--save-rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with serve(tmp, scenario(args.messages, args.rounds + 1, args.save_mb),
                   args.latency_ms) as srv:
            info = srv.info
            session = open_session(info, tmp / "home", MOVER, timeout=300)
            server = batch_server_ms(session, args.latency_ms)  # round 0's messages
            before = count_429(info)
            times = [move_round(session, r, args.messages)
                     for r in range(1, args.rounds + 1)]
            throttled = count_429(info) - before
            m365bot.disconnect(session)
            batches = math.ceil(args.messages / 20)
            floor = batches * args.latency_ms / 1000
            median = statistics.median(times)
            floor = floor or 1e-9  # latency 0: no floor
            print(f"move {args.messages}: median {median:.2f} s over {len(times)} rounds "
                  f"(all: {', '.join(f'{t:.2f}' for t in times)})")
            print(f"  floor = ceil({args.messages}/20) x {args.latency_ms:g} ms = {floor:.2f} s;"
                  f" ratio {median / floor:.2f} (goal <= 1.5); 429 answers: {throttled}")
            print(f"  service time per $batch of 20 moves: {server:.1f} ms -> floor + service "
                  f"= {batches} x ({args.latency_ms:g} + {server:.1f}) ms = "
                  f"{batches * (args.latency_ms + server) / 1000:.2f} s")
            runs = save_child(tmp, srv.info_file, args.save_rounds)
            rss = statistics.median(r["peak_rss_mb"] for r in runs)
            secs = statistics.median(r["seconds"] for r in runs)
            print(f"save {runs[0]['files']} attachments, {runs[0]['bytes'] / MB:.0f} MB: "
                  f"peak RSS median {rss:.0f} MB (goal <= 100; runs: "
                  f"{', '.join(str(round(r['peak_rss_mb'])) for r in runs)}; ru_maxrss "
                  f"{', '.join(str(round(r['ru_maxrss_mb'])) for r in runs)}), "
                  f"median {secs:.1f} s")


if __name__ == "__main__":
    main()

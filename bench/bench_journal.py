"""The bulk journal's cost as a job grows (issue 8, bulk actions that "resume after a crash
without redoing the items already done"). Each job of N items is journalled the way the
bulk runner does it: before each chunk of 20 goes out its items (and the next chunk's) are
written as pending, with one synced write, and the chunk's results are recorded as done;
at the end one item has failed, so the journal is kept for a rerun.

No network: this is the journal alone, the part of a bulk job's time that grows with the
job. Prints, for each N, the wall time, the time per chunk, and the bytes written to disk
(``wchar`` of ``/proc/self/io``: every byte this process handed to ``write``).

Run: ``.venv/bin/python bench/bench_journal.py [--items 1000,5000,20000] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from m365bot.config import Settings
from m365bot.outlook.bulk import Journal
from m365bot.outlook.models import Result

CHUNK = 20
# a moved message's new id is as long as Graph's (152 characters)
NEW_ID = "AAMkAGI2TG93AAAuAAAAAAAiQ8W967B7TKBjgx9rVEURBQAiIsqMbYjsT5e-T7KzowPTAAAY" * 2


def written_bytes() -> int:
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return int(fields["wchar"])


def one_job(data_dir: Path, n: int) -> tuple[float, int]:
    """Seconds and bytes written to journal a job of ``n`` items."""
    keys = [f"AAMkADY0Njg1OTU2LWNiZGUt{i:08d}" for i in range(n)]
    chunks = [keys[i:i + CHUNK] for i in range(0, n, CHUNK)]
    before, t0 = written_bytes(), time.perf_counter()
    journal = Journal.open(Settings(data_dir=data_dir), f"bench-{n}", "move")
    results: list[Result] = []
    for k, chunk in enumerate(chunks):
        journal.begin(chunk, chunks[k + 1] if k + 1 < len(chunks) else ())
        done = [Result(item_id=key, ok=True, status=201, new_id=NEW_ID) for key in chunk]
        if k == len(chunks) - 1:  # one failure: the journal is kept, as after a real failure
            done[-1] = Result(item_id=chunk[-1], ok=False, status=403, code="ErrorAccessDenied")
        journal.finish(done)
        results += done
    journal.close(results)
    elapsed = time.perf_counter() - t0
    again = Journal.open(Settings(data_dir=data_dir), f"bench-{n}", "move")
    assert len(again.done) == n - 1, len(again.done)  # a rerun would skip all but one
    return elapsed, written_bytes() - before


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", default="1000,5000,20000")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    print(f"journal of a bulk job, chunks of {CHUNK}, median of {args.rounds} rounds")
    for n in (int(x) for x in args.items.split(",")):
        runs = []
        for r in range(args.rounds):
            with tempfile.TemporaryDirectory() as tmp:
                runs.append(one_job(Path(tmp) / f"r{r}", n))
        seconds = statistics.median(t for t, _ in runs)
        mib = statistics.median(b for _, b in runs) / 2**20
        chunks = -(-n // CHUNK)
        print(f"{n:>7,} items: {seconds:7.2f} s, {seconds / chunks * 1000:6.2f} ms per chunk, "
              f"{mib:9.1f} MiB written  [runs: {', '.join(f'{t:.2f}' for t, _ in runs)} s]")


if __name__ == "__main__":
    main()

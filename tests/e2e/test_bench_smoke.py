"""``python -m bench --smoke`` still runs end to end, so the benchmark suite does not rot
(issue 10): every contender program against a served emulator, the table and the chart.

The figures of a smoke run mean nothing (small sizes, one run, a shared CI machine); these
tests check that the suite works and reports what it measured, not how fast anything is.

The peers' venvs live in ``M365BOT_BENCH_VENVS`` (default ``~/.cache/m365bot/bench-venvs``)
so that a machine builds them once: the naive loop's (requests + msal) takes seconds,
python-o365 and msgraph-sdk + azure-identity about three minutes the first time, nothing
after. m365bot's two contenders alone take about a minute.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENVS = Path(os.environ.get("M365BOT_BENCH_VENVS",
                            Path.home() / ".cache" / "m365bot" / "bench-venvs"))
PNG = b"\x89PNG\r\n\x1a\n"


def _suite(out: Path, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--out", str(out),
                           "--venvs", str(VENVS), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=1500)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads((out / "results.json").read_text())


def _table_rows(md: str, case: str, contender: str) -> list[str]:
    return [line for line in md.splitlines() if line.startswith(f"| {case} | {contender} |")]


@pytest.mark.slow
def test_smoke_suite_measures_m365bot_and_the_naive_loop_in_every_case(tmp_path: Path) -> None:
    contenders = ["m365bot-sync", "m365bot-async", "naive"]
    results = _suite(tmp_path, "--contenders", ",".join(contenders))
    md = (tmp_path / "results.md").read_text()
    sizes = results["sizes"]
    expected = {"B1": sizes["b1_top"], "B2": sizes["listing"], "B3": sizes["moves"],
                "B4": sizes["attachments"], "B5": sizes["emails"]}
    for case, items in expected.items():
        for who in contenders:
            runs = [r for r in results["records"] if r["case"] == case and r["contender"] == who]
            assert runs and all(r["items"] == items and r["seconds"] > 0 for r in runs), \
                (case, who, runs)
            assert len(_table_rows(md, case, who)) == 1, (case, who)
    # m365bot's own promises hold even at smoke size: no 429 moving, bounded memory saving
    for who in contenders[:2]:
        assert all(r["throttled"] == 0 for r in results["records"]
                   if r["contender"] == who and r["case"] == "B3")
        assert all(r["peak_rss_mb"] < 100 for r in results["records"]
                   if r["contender"] == who and r["case"] == "B4")
    b6 = results["b6"]["import_s"]
    assert set(b6) == set(contenders)
    assert "| m365bot-sync | B1 |" in md and "## B6" in md and "Measured " in md
    assert (tmp_path / "ratios.png").read_bytes().startswith(PNG)


@pytest.mark.slow
def test_smoke_suite_runs_python_o365_and_msgraph_sdk_in_their_own_venvs(
        tmp_path: Path) -> None:
    results = _suite(tmp_path, "--contenders", "o365,msgraph", "--cases", "B1,B2,B3,B4,B5")
    for who in ("o365", "msgraph"):
        cases = {r["case"] for r in results["records"] if r["contender"] == who}
        assert cases == {"B1", "B2", "B3", "B4", "B5"}, who
        python = VENVS / who / "bin" / "python"
        assert python.exists()
        # the peer is installed in its venv, and m365bot is not
        probe = subprocess.run([str(python), "-c", "import m365bot"], capture_output=True)
        assert probe.returncode != 0
    md = (tmp_path / "results.md").read_text()
    assert _table_rows(md, "B3", "msgraph") and _table_rows(md, "B5", "o365")

"""Installed size of m365bot alone and with each extra (issue 10, B6): a fresh venv per
case, ``pip install <this checkout>[extra]`` from the package registry, then the size of
site-packages without pip and setuptools (which every venv has), counted per distribution
from each one's RECORD (the files pip wrote, bytecode included).

Usage::

    .venv/bin/python bench/bench_install_size.py [--cases core,emulator,server] [--top 8]

Prints one line per case (total MiB, and the extra's own weight over the core) and the
largest distributions of each.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CASES = {"core": "", "emulator": "[emulator]", "server": "[server]",
         "all": "[emulator,server]"}
NOT_COUNTED = {"pip", "setuptools", "wheel"}  # the venv's own tools

# runs inside each venv: bytes per installed distribution, from its RECORD
SIZES = r"""
import importlib.metadata as md, json, os
out = {}
for dist in md.distributions():
    total = 0
    for f in dist.files or ():
        path = dist.locate_file(f)
        if os.path.isfile(path):
            total += os.path.getsize(path)
    out[dist.metadata["Name"]] = total
print(json.dumps(out))
"""


def project_copy(dest: Path) -> Path:
    """The installable project (pyproject, README, src) without build leftovers, copied to
    ``dest``: pip builds there, never in the checkout (tests/e2e/test_install_core.py too)."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, dest / name)
    shutil.copytree(REPO / "src", dest / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return dest


def measure(project: Path, extra: str, where: Path) -> dict[str, int]:
    """Bytes per distribution in a fresh venv with ``project[extra]`` installed."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    py = str(where / "bin" / "python")
    subprocess.run([py, "-m", "pip", "install", "-q", f"{project}{extra}"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = subprocess.run([py, "-c", SIZES], check=True, capture_output=True, text=True).stdout
    sizes: dict[str, int] = json.loads(out)
    return {k: v for k, v in sizes.items() if k.lower() not in NOT_COUNTED}


def _mib(n: int) -> str:
    return f"{n / 2**20:6.1f} MiB"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default="core,emulator,server,all")
    ap.add_argument("--top", type=int, default=8)
    args = ap.parse_args()
    results: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory(prefix="m365bot-size-") as tmp:
        project = project_copy(Path(tmp) / "project")
        for case in args.cases.split(","):
            results[case] = measure(project, CASES[case], Path(tmp) / f"venv-{case}")
    core = sum(results["core"].values()) if "core" in results else None
    for case, sizes in results.items():
        total = sum(sizes.values())
        label = f"m365bot{CASES[case]}"
        over = f"   (+{_mib(total - core).strip()} over the core)" if core and case != "core" \
            else ""
        print(f"{label:28} {_mib(total)} in {len(sizes)} distributions{over}")
        base = results.get("core", {}) if case != "core" else {}
        own = {k: v for k, v in sizes.items() if k not in base}
        biggest = sorted(own.items(), key=lambda kv: -kv[1])[:args.top]
        print("    " + ", ".join(f"{k} {v / 2**20:.1f}" for k, v in biggest))


if __name__ == "__main__":
    main()

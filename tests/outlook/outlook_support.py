"""Lookups for the Outlook action tests: the demo world's addresses, app and secret, and the
emulator's Graph request records."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

from plugins.canary import register_canary, scan_output

HANS = "hans@contoso.onmicrosoft.com"
OPS = "ops@contoso.onmicrosoft.com"
APP = {"name": "m365bot-demo", "from": "vertrieb@kunde.example"}


def demo_app(info: dict[str, Any]) -> dict[str, Any]:
    tid = next(t for t in info["tenants"] if t["cloud"] == "global")["id"]
    return next(a for a in info["apps"] if a["tenant_id"] == tid and a["name"] == APP["name"])


def demo_secret(app: dict[str, Any]) -> str:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    value = next(s for s in app["secrets"] if s["expires"] > now)["value"]
    return register_canary(value)  # never logged, printed or saved


def graph_calls(emulator: Any, since: int = 0) -> list[dict[str, Any]]:
    """The Graph requests the emulator saw (after record number ``since``)."""
    return [r for r in emulator.control.requests() if r.get("role") == "graph"
            and r["seq"] > since]


def last_seq(emulator: Any) -> int:
    records = emulator.control.requests()
    return int(records[-1]["seq"]) if records else 0


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "m365bot", *args], env=env,
                          capture_output=True, text=True, timeout=120)
    scan_output(proc.stdout + proc.stderr, "m365bot " + " ".join(args[:2]))
    return proc

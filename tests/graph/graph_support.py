"""Lookups for the Graph engine's tests: the demo app, the ops mailbox, a session on it, and
the emulator's records and per-mailbox peak of requests in flight."""

from __future__ import annotations

import time
from typing import Any

import m365bot
from m365bot.config import Settings
from m365bot.sessions import Session
from m365bot.values import Secret
from plugins.canary import register_canary

OPS = "ops@contoso.onmicrosoft.com"
INBOX = f"/users/{OPS}/mailFolders/inbox/messages"


def demo_app(info: dict[str, Any]) -> dict[str, Any]:
    tid = next(t for t in info["tenants"] if t["cloud"] == "global")["id"]
    return next(a for a in info["apps"] if a["tenant_id"] == tid and a["name"] == "m365bot-demo")


def connect(emulator: Any, settings: Settings) -> Session:
    a = demo_app(emulator.info)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    secret = register_canary(next(s for s in a["secrets"] if s["expires"] > now)["value"])
    return m365bot.connect(cloud="global", mode="client-credentials", client_id=a["client_id"],
                           tenant_id=a["tenant_id"], username=OPS,
                           client_secret=Secret(secret), settings=settings)


def graph_records(emulator: Any, **filters: Any) -> list[dict[str, Any]]:
    return [r for r in emulator.control.requests(**filters) if r.get("role") in ("graph", "upload")]


def peak_in_flight(emulator: Any) -> int:
    """The emulator's count of the most requests in flight at once on the ops mailbox."""
    snap = emulator.control.counters()["throttle"]
    return max((v["peak_in_flight"] for k, v in snap.items() if k.endswith("|" + OPS)), default=0)

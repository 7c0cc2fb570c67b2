"""Lookups for the Connect / sessions / Control Room tests (imported by
those test modules): a clean session emulator, an unlocked vault on disk, proxy-mode settings,
and the demo world's apps and users."""

from __future__ import annotations

import time
from typing import Any

from plugins.canary import register_canary

CLOUD_KEY = {"global": "global", "usgovhigh": "gcchigh", "dod": "dod", "china": "china"}


def tenant(info: dict[str, Any], cloud: str = "global") -> dict[str, Any]:
    return next(t for t in info["tenants"] if t["cloud"] == cloud)


def app(info: dict[str, Any], name: str = "m365bot-demo", cloud: str = "global") -> dict[str, Any]:
    tid = tenant(info, cloud)["id"]
    return next(a for a in info["apps"] if a["tenant_id"] == tid and a["name"] == name)


def user(info: dict[str, Any], name: str, cloud: str = "global") -> dict[str, Any]:
    tid = tenant(info, cloud)["id"]
    return next(u for u in info["users"] if u["tenant_id"] == tid and u["upn"].startswith(name))


def secret_of(app_info: dict[str, Any]) -> str:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    value = next(s for s in app_info["secrets"] if s["expires"] > now)["value"]
    return register_canary(value)  # the demo secret must never be logged or printed


def graph_requests(emu: Any) -> list[dict[str, Any]]:
    return [r for r in emu.control.requests() if r.get("role") == "graph"]


def login_requests(emu: Any) -> list[dict[str, Any]]:
    return [r for r in emu.control.requests() if r.get("role") == "login"]



"""Lookups into the emulator's demo world (tenants, apps, users, secrets), filters over its
request records, Settings reaching an emulator, and a vault stocked with the demo apps. Used
by the auth, Connect, Control Room, Graph and Outlook tests."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from m365bot.config import Settings
from m365bot.vault import AttributeSpec, Vault
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


def secret(app_info: dict[str, Any], *, expired: bool = False) -> dict[str, Any]:
    """The app's first secret that is (or, with expired=True, is no longer) valid."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return next(s for s in app_info["secrets"] if (s["expires"] < now) == expired)


def secret_of(app_info: dict[str, Any]) -> str:
    """The value of the app's first valid secret, registered with the canary plugin."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    value = next(s for s in app_info["secrets"] if s["expires"] > now)["value"]
    return register_canary(value)  # the demo secret must never be logged or printed


def graph_requests(emulator: Any) -> list[dict[str, Any]]:
    return [r for r in emulator.control.requests() if r.get("role") == "graph"]


def login_requests(emulator: Any) -> list[dict[str, Any]]:
    """Every request the emulator recorded for a login host (token, discovery, authorize)."""
    return [r for r in emulator.control.requests() if r.get("role") == "login"]


def settings_for(emulator: Any, tmp_path: Path) -> Settings:
    """Settings that reach ``emulator`` through its proxy, with tmp_path/home as data folder."""
    info = emulator.info
    return Settings(data_dir=tmp_path / "home", proxy=info["proxy_url"],
                    ca_bundle=info["ca_bundle"], timeout=20)


def stock_demo_apps(vault: Vault, info: dict[str, Any]) -> None:
    """Locker "bots" with credential o365-CLOUD (the demo app's id, tenant and secret) per cloud."""
    vault.create_locker("bots")
    for cloud in CLOUD_KEY:
        a = app(info, cloud=cloud)
        vault.set_credential("bots", f"o365-{cloud}", {
            "client_secret": AttributeSpec(secret_of(a)),
            "client_id": AttributeSpec(a["client_id"], masked=False),
            "tenant_id": AttributeSpec(a["tenant_id"], masked=False)})

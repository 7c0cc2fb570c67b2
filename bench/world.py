"""The emulated world the suite runs in: one served emulator seeded for B1-B4, one with the
demo scenario for B5 (reset before each run, so sent copies do not pile up), both reached by
the contenders only through the proxy and the CA.

Mailboxes (tenant contoso, app ``m365bot-demo``, application permissions):

* ``alice``: B1 and B2 list her Archive (``sizes.listing`` messages).
* ``mover-<k>``: B3 moves ``sizes.moves`` messages between "Bench A" and "Bench B", one
  mailbox per contender and latency: Outlook counts its limit of 10,000 requests per
  10 minutes per app and mailbox, and 5 runs of 1,000 moves by five contenders in one
  mailbox would be refused by real Graph too.
* ``carol``: B4 saves the attachments of her "Scan" emails.
* B5 sends from ``alice`` of the second emulator to an address outside the tenant.

Example::

    with World(tmp, sizes, movers=10) as world:
        world.set_latency(50)
        cfg = world.app_config()
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

DOMAIN = "contoso.onmicrosoft.com"
MiB = 1024 * 1024


@dataclass(frozen=True)
class Sizes:
    """How big each case is."""

    b1_top: int = 50
    listing: int = 10_000       # B2
    moves: int = 1_000          # B3
    attachments: int = 50       # B4: emails with one attachment each
    attachment_mib: int = 10    # B4: size of each
    emails: int = 100           # B5
    email_mib: float = 5.0      # B5: attachment of each


def scenario(sizes: Sizes, movers: int) -> dict[str, Any]:
    from m365bot.emulator.scenario import load_spec

    spec = load_spec("demo")
    users = spec["tenants"][0]["users"]
    users += [{"name": f"mover-{k}", "password": "Bench-Pa55!", "mailbox": {}}
              for k in range(movers)]
    users.append({"name": "carol", "password": "Bench-Pa55!", "mailbox": {}})
    by_name = {u["name"]: u for u in users}
    alice = by_name["alice"].setdefault("mailbox", {})
    alice.setdefault("messages", []).extend(
        {"folder": "archive", "subject": f"Bench message {i}",
         "from": f"sender{i % 50}@example.com", "to": [f"alice@{DOMAIN}"],
         "body": f"Body of message {i}. " * 5,
         "received": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
         "is_read": i % 3 == 0} for i in range(sizes.listing))
    for k in range(movers):
        box = by_name[f"mover-{k}"]["mailbox"]
        box["folders"] = [{"name": "Bench A"}, {"name": "Bench B"}]
        box["messages"] = [{"folder": "Bench A", "subject": f"Move me {i}",
                            "from": "shop@example.com", "to": [f"mover-{k}@{DOMAIN}"],
                            "body": "x"} for i in range(sizes.moves)]
    blob = base64.b64encode(os.urandom(sizes.attachment_mib * MiB)).decode()
    by_name["carol"]["mailbox"]["messages"] = [
        {"folder": "inbox", "subject": f"Scan {i}", "from": "scanner@example.com",
         "to": [f"carol@{DOMAIN}"], "body": "scan",
         "attachments": [{"name": f"scan{i}.bin", "content_base64": blob}]}
        for i in range(sizes.attachments)]
    return spec


class Served:
    """``m365bot emulator serve`` in its own process, as Graph is, on loopback."""

    def __init__(self, work: Path, spec: dict[str, Any] | str) -> None:
        work.mkdir(parents=True, exist_ok=True)
        source = spec
        if isinstance(spec, dict):
            path = work / "scenario.json"
            path.write_text(json.dumps(spec))
            source = str(path)
        info_file = work / "emu.json"
        info_file.unlink(missing_ok=True)
        self.log = (work / "stderr.txt").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "m365bot", "emulator", "serve", "--port", "0",
             "--proxy-port", "0", "--scenario", str(source), "--data-dir", str(work / "emu"),
             "--info-file", str(info_file)], stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 900
        while not info_file.exists() or not info_file.read_text().strip():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit("the emulator did not start: "
                                 + (work / "stderr.txt").read_text()[-2000:])
            time.sleep(0.2)
        time.sleep(0.3)
        self.info: dict[str, Any] = json.loads(info_file.read_text())
        self.control = httpx.Client(base_url=self.info["control_url"],
                                    verify=self.info["ca_bundle"], trust_env=False, timeout=600)

    def settings(self, latency_ms: float, **throttling: Any) -> None:
        r = self.control.post("/settings", json={
            "latency_ms": latency_ms, "throttling": {"enabled": True, **throttling}})
        r.raise_for_status()

    def reset(self) -> None:
        self.control.post("/reset").raise_for_status()

    def throttled(self) -> int:
        """429 answers so far (items of a ``$batch`` included)."""
        r = self.control.get("/requests", params={"status": 429})
        r.raise_for_status()
        return len(r.json())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def app_config(self) -> dict[str, Any]:
        """The tenant, client id and secret of contoso's ``m365bot-demo`` app."""
        tenant = next(t for t in self.info["tenants"] if t["cloud"] == "global")
        app = next(a for a in self.info["apps"]
                   if a["tenant_id"] == tenant["id"] and a["name"] == "m365bot-demo")
        secret = max(app["secrets"], key=lambda s: str(s["expires"]))["value"]
        return {"tenant_id": tenant["id"], "client_id": app["client_id"],
                "client_secret": secret}

    def env(self) -> dict[str, str]:
        """What points a client at this emulator: its proxy and its CA, for m365bot (its own
        settings) and for everyone else (the usual variables)."""
        proxy, ca = self.info["proxy_url"], self.info["ca_bundle"]
        return {"HTTPS_PROXY": proxy, "https_proxy": proxy, "SSL_CERT_FILE": ca,
                "REQUESTS_CA_BUNDLE": ca, "CURL_CA_BUNDLE": ca,
                "M365BOT_PROXY": proxy, "M365BOT_CA_BUNDLE": ca}


class World:
    """The two emulators of one suite run."""

    def __init__(self, work: Path, sizes: Sizes, movers: int) -> None:
        self.main = Served(work / "main", scenario(sizes, movers))
        try:
            self.sender = Served(work / "sender", "demo")
        except BaseException:
            self.main.stop()
            raise

    def set_latency(self, latency_ms: float) -> None:
        self.main.settings(latency_ms)
        self.sender.settings(latency_ms)

    def __enter__(self) -> World:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.main.stop()
        self.sender.stop()

"""Shared by the emulator load benchmarks: a real ``m365bot emulator serve`` subprocess on
loopback, app tokens from its token endpoint, and a pool of HTTPS clients.

Everything stays on 127.0.0.1; every loop in the scripts that use this is bounded in count.

Example::

    with Served(state_dir=None) as srv:
        token = srv.token()
        with srv.client(token) as c:
            c.get(f"/v1.0/users/{ALICE}/messages?$top=1")
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

import m365bot
from m365bot.config import Settings
from m365bot.sessions import Session
from m365bot.values import Secret

ALICE = "alice@contoso.onmicrosoft.com"
BOB = "bob@contoso.onmicrosoft.com"
CLI = str(Path(sys.executable).with_name("m365bot"))


class Served:
    """``m365bot emulator serve`` on ephemeral loopback ports, stopped with SIGTERM."""

    def __init__(self, *, state_dir: Path | None = None, latency_ms: float = 0,
                 data_dir: Path | None = None, scenario: Path | None = None,
                 start_timeout: float = 60) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="m365bot-bench-")
        work = Path(self._tmp.name)
        self.info_file = work / "info.json"
        self.data_dir = data_dir or work / "data"
        args = [CLI, "emulator", "serve", "--port", "0", "--proxy-port", "0",
                "--data-dir", str(self.data_dir), "--info-file", str(self.info_file),
                "--latency-ms", str(latency_ms)]
        if state_dir is not None:
            args += ["--state", str(state_dir)]
        if scenario is not None:
            args += ["--scenario", str(scenario)]
        self.stderr = (work / "stderr.txt").open("w+b")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.stderr)
        self.info: dict[str, Any] = {}
        deadline = time.monotonic() + start_timeout  # a large scenario takes minutes
        while time.monotonic() < deadline and self.proc.poll() is None:
            if self.info_file.exists():
                try:
                    self.info = json.loads(self.info_file.read_text())
                    break
                except ValueError:
                    pass
            time.sleep(0.1)
        if not self.info:
            self.stop()
            raise RuntimeError("the emulator did not start: " + self.stderr_text())
        self.ctx = ssl.create_default_context(cafile=self.info["ca_bundle"])

    def stderr_text(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")[-2000:]

    def client(self, token: str | None = None, **kw: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        kw.setdefault("timeout", 30)
        return httpx.Client(base_url=self.info["base_url"], verify=self.ctx, trust_env=False,
                            headers=headers, **kw)

    def app(self, index: int = 0) -> tuple[str, dict[str, Any]]:
        """(tenant id, app) of the ``index``-th confidential app with a secret."""
        apps = [a for a in self.info["apps"] if a["secrets"] and not a["public_client"]]
        app = apps[index % len(apps)]
        return app["tenant_id"], app

    def token(self, index: int = 0) -> str:
        tenant, app = self.app(index)
        with self.client() as c:
            r = c.post(f"/{tenant}/oauth2/v2.0/token", data={
                "grant_type": "client_credentials", "client_id": app["client_id"],
                "client_secret": app["secrets"][0]["value"],
                "scope": "https://graph.microsoft.com/.default"})
            r.raise_for_status()
            return str(r.json()["access_token"])

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def threads(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                return int(line.split()[1])
        return 0

    def stop(self, timeout: float = 300) -> float:
        """SIGTERM; returns the seconds until the process exited."""
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        spent = time.monotonic() - t0
        self.stderr.close()
        self._tmp.cleanup()
        return spent

    def __enter__(self) -> Served:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def open_session(info: dict[str, Any], home: Path, user: str, *,
                 timeout: float = 120) -> Session:
    """A Connect session (client credentials, contoso's ``m365bot-demo`` app) to
    ``user@contoso...``'s mailbox on the emulator ``info`` describes, through its proxy."""
    tenant = next(t for t in info["tenants"] if t["cloud"] == "global")
    app = next(a for a in info["apps"]
               if a["tenant_id"] == tenant["id"] and a["name"] == "m365bot-demo")
    settings = Settings(data_dir=home, proxy=info["proxy_url"], ca_bundle=info["ca_bundle"],
                        timeout=timeout)
    return m365bot.connect(cloud="global", mode="client-credentials",
                           client_id=app["client_id"], tenant_id=tenant["id"],
                           username=f"{user}@{tenant['domain']}",
                           client_secret=Secret(app["secrets"][0]["value"]), settings=settings)


def mail(subject: str, to: str = BOB, size: int = 200) -> dict[str, Any]:
    return {"message": {"subject": subject, "body": {"contentType": "text",
                                                     "content": "x" * size},
                        "toRecipients": [{"emailAddress": {"address": to}}]},
            "saveToSentItems": True}


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def summary(values: list[float]) -> str:
    if not values:
        return "n/a"
    return (f"median {statistics.median(values):.1f} ms, p99 {pct(values, 0.99):.1f} ms, "
            f"max {max(values):.1f} ms")


def load_line() -> str:
    return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"

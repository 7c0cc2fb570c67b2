"""End to end: the emulator served as its own process (``m365bot emulator serve``), and
``m365bot connect`` in separate processes testing a connection in every cloud it serves,
through its proxy mode with its CA (``--emulator INFO_FILE``), the secret read from a bot
variable (here: the environment the CLI passes as variables)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from plugins.canary import register_canary, scan_output

CLOUDS = {"global": "Azure Global", "usgovhigh": "Azure US GCC High", "dod": "Azure US DoD",
          "china": "Azure China (21Vianet)"}


def _wait(info_file: Path, proc: subprocess.Popen[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if info_file.exists():
            try:
                return dict(json.loads(info_file.read_text()))
            except ValueError:  # being written
                pass
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the emulator did not write its info file")


def test_cli_connect_in_every_cloud_against_a_served_emulator(
        tmp_path: Path, emulator_data_dir: Path) -> None:
    info_file = tmp_path / "emu.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("M365BOT_")}
    env["M365BOT_HOME"] = str(tmp_path / "home")
    server = subprocess.Popen(
        [sys.executable, "-m", "m365bot", "emulator", "serve", "--port", "0", "--proxy-port",
         "0", "--data-dir", str(emulator_data_dir), "--info-file", str(info_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        info = _wait(info_file, server)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for cloud, label in CLOUDS.items():
            t = next(x for x in info["tenants"] if x["cloud"] == cloud)
            app = next(a for a in info["apps"]
                       if a["tenant_id"] == t["id"] and a["name"] == "m365bot-demo")
            secret = register_canary(next(s for s in app["secrets"]
                                          if s["expires"] > now)["value"])
            mailbox = f"alice@{t['domain']}"
            proc = subprocess.run(
                [sys.executable, "-m", "m365bot", "connect", "--cloud", label,
                 "--mode", "client-credentials", "--client-id", app["client_id"],
                 "--tenant-id", t["id"], "--username", mailbox,
                 "--client-secret", "variable:APP_SECRET", "--emulator", str(info_file),
                 "--json"],
                env={**env, "APP_SECRET": secret}, capture_output=True, text=True, timeout=60)
            scan_output(proc.stdout + proc.stderr, f"m365bot connect ({cloud})")
            assert proc.returncode == 0, proc.stderr
            out = json.loads(proc.stdout)
            assert out["cloud"] == label and out["mailbox"] == mailbox
            assert out["identity"] == "m365bot-demo" and "Mail.Send" in out["permissions"]
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=20)

"""Helpers of the refresh tests: run worker.py processes on one job, build that job, and an
msal HTTP client that remembers what was posted to the token endpoint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from m365bot.auth.http import MsalHttpClient
from m365bot.config import Settings

WORKER = Path(__file__).with_name("worker.py")


def run_workers(job: dict[str, Any], timeout: float = 60) -> list[dict[str, Any]]:
    proc = subprocess.run([sys.executable, str(WORKER)], input=json.dumps(job), text=True,
                          capture_output=True, timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out: list[dict[str, Any]] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def job_for(settings: Settings, vault_path: Path, vault_key: str, mode: str,
            provider: dict[str, Any], n: int, **extra: Any) -> dict[str, Any]:
    return {
        "vault": str(vault_path), "vault_key": vault_key, "mode": mode, "n": n,
        "settings": {"data_dir": str(settings.data_dir), "proxy": settings.proxy,
                     "ca_bundle": settings.ca_bundle, "timeout": settings.timeout},
        "provider": provider, **extra,
    }


class CapturingClient(MsalHttpClient):
    """The real client, remembering what was posted to the token endpoint."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.token_posts: list[dict[str, Any]] = []

    def post(self, url: str, params: Any = None, data: Any = None, headers: Any = None,
             **kw: Any) -> Any:
        if url.endswith("/oauth2/v2.0/token"):
            self.token_posts.append(dict(data or {}))
        return super().post(url, params=params, data=data, headers=headers, **kw)

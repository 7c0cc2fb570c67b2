"""The canary plugin itself: a run whose logs contain a registered secret, or a value
following the ``CANARY-`` convention, fails even when every test passes; a clean run passes.
Runs a real pytest subprocess on a generated test file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent

BODY = '''
import logging
from plugins.canary import register_canary

def test_logs():
    secret = register_canary("s3cr3t-registered-value")
    logging.getLogger("msal.application").debug("%s", {LEAK})
'''


def _run(tmp_path: Path, leak: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["plugins.canary"]\n')
    (tmp_path / "test_gen.py").write_text(BODY.replace("{LEAK}", leak))
    env = dict(os.environ, PYTHONPATH=str(TESTS))
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "no:randomly", str(tmp_path)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def test_registered_secret_in_a_debug_log_fails_the_run(tmp_path: Path) -> None:
    proc = _run(tmp_path, "secret")
    assert "1 passed" in proc.stdout and proc.returncode == 1, proc.stdout[-1500:]
    assert "CANARY SCAN" in proc.stdout and "log msal.application" in proc.stdout
    assert "s3cr3t-registered-value" not in proc.stdout  # the report shows a prefix only


def test_convention_value_fails_and_clean_run_passes(tmp_path: Path) -> None:
    proc = _run(tmp_path, "'token CANARY-abc123xyz'")
    assert proc.returncode == 1 and "CANARY SCAN" in proc.stdout
    clean = tmp_path / "clean"
    clean.mkdir()
    proc = _run(clean, "'nothing secret here'")
    assert proc.returncode == 0 and "CANARY SCAN" not in proc.stdout, proc.stdout[-1500:]


def test_leak_in_an_xdist_worker_fails_the_run(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["plugins.canary"]\n')
    (tmp_path / "test_gen.py").write_text(BODY.replace("{LEAK}", "secret"))
    env = dict(os.environ, PYTHONPATH=str(TESTS))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-n", "1", str(tmp_path)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert "1 passed" in proc.stdout and proc.returncode == 1, proc.stdout[-1500:]
    assert "CANARY SCAN" in proc.stdout
    # the summary counts what the worker read, not the controller's nothing
    m = re.search(r"canary scan: (\d+) log records .* (\d+) registered canaries", proc.stdout)
    assert m and int(m.group(1)) >= 1 and m.group(2) == "1", proc.stdout[-1500:]

"""A bot runner's install: ``pip install m365bot`` alone, without the emulator's or the
Control Room server's extras, in a fresh venv (packages from the registry, through pip's
cache). There Connect, the Credential Vault and the Graph engine work against the session's
emulator over real HTTPS; ``m365bot emulator serve`` and ``m365bot demo`` answer with the
``pip install 'm365bot[emulator]'`` line; pytest keeps working with m365bot's plugin loaded,
and only a test that asks for an emulator fixture fails, with the same line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from bench_install_size import project_copy

from plugins.canary import scan_output
from world_support import app, secret_of

FIX = "Fix: pip install 'm365bot[emulator]'"

# runs in the fresh venv: the extras are absent, and a bot's whole path works without them
BOT = r"""
import importlib.util, json, os, sys
absent = [m for m in ("starlette", "hypercorn", "jinja2", "yaml", "uvicorn", "argon2")
          if importlib.util.find_spec(m) is not None]
assert not absent, f"installed without being asked for: {absent}"
import m365bot
from m365bot.config import Settings
from m365bot.graph import Graph
from m365bot.values import CredentialRef
from m365bot.vault import AttributeSpec, Vault, new_raw_key
key, path = new_raw_key(), os.environ["VAULT_PATH"]
with Vault.open(path, actor="bot") as vault:
    vault.initialize(key=key)
    vault.create_locker("bots")
    vault.set_credential("bots", "o365", {"client_secret": AttributeSpec(os.environ["SECRET"])})
with Vault.open(path, actor="bot") as vault:  # a second process would do the same
    vault.unlock(key=key)
    session = m365bot.connect(
        cloud="global", mode="client-credentials", client_id=os.environ["CLIENT_ID"],
        tenant_id=os.environ["TENANT_ID"], username="ops@contoso.onmicrosoft.com",
        client_secret=CredentialRef("bots", "o365", "client_secret"),
        settings=Settings.from_env(), vault=vault)
    assert isinstance(session.graph, Graph)
    subjects = [m["subject"] for m in session.graph.paginate(
        f"/users/{session.mailbox}/mailFolders/inbox/messages", select=["subject"], top=5)]
    m365bot.disconnect(session)
loaded = sorted(m for m in ("starlette", "hypercorn", "jinja2", "yaml") if m in sys.modules)
print(json.dumps({"subjects": sorted(subjects), "extras_loaded": loaded}))
"""

USER_TESTS = '''
def test_plain():
    assert 1 + 1 == 2

def test_needs_the_emulator(emulator_info):
    assert emulator_info["tenants"]
'''


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with m365bot (no extras) and pytest, as a bot runner's CI would have."""
    root = tmp_path_factory.mktemp("core-install")
    project = project_copy(root / "project")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    got = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                          str(project), "pytest"], capture_output=True, text=True,
                         env=_env())
    assert got.returncode == 0, got.stdout + got.stderr
    return venv


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("M365BOT_", "PYTHON", "VIRTUAL_ENV", "PYTEST"))}
    env.update(extra)
    return env


def _run(venv: Path, *argv: str, cwd: Path | None = None,
         **env: str) -> subprocess.CompletedProcess[str]:
    exe = argv[0] if "/" in argv[0] else str(venv / "bin" / argv[0])
    return subprocess.run([exe, *argv[1:]], capture_output=True, text=True, cwd=cwd,
                          env=_env(**env), timeout=120)


@pytest.mark.slow
def test_connect_vault_and_graph_work_without_the_extras(core_venv: Path, tmp_path: Path,
                                                         clean_emulator: Any) -> None:
    info = clean_emulator.info
    a = app(info)
    got = _run(core_venv, "python", "-c", BOT, VAULT_PATH=str(tmp_path / "vault.db"),
               SECRET=secret_of(a), CLIENT_ID=a["client_id"], TENANT_ID=a["tenant_id"],
               M365BOT_HOME=str(tmp_path / "home"), M365BOT_PROXY=info["proxy_url"],
               M365BOT_CA_BUNDLE=info["ca_bundle"])
    assert got.returncode == 0, got.stderr
    box = clean_emulator.state.mailboxes["ops@contoso.onmicrosoft.com"]
    inbox = next(f.id for f in box.folders.values() if f.well_known_name == "inbox")
    assert json.loads(got.stdout) == {
        "subjects": sorted(m.props["subject"] for m in box.messages.values()
                           if m.folder_id == inbox),
        "extras_loaded": []}
    help_ = _run(core_venv, "m365bot", "connect", "--help")
    assert help_.returncode == 0 and "--client-secret" in help_.stdout
    scan_output(got.stdout + got.stderr + help_.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("argv", [["emulator", "serve", "--port", "0"], ["demo"]])
def test_emulator_commands_name_the_extra(core_venv: Path, tmp_path: Path,
                                          argv: list[str]) -> None:
    home = tmp_path / "home"
    got = _run(core_venv, "m365bot", *argv, M365BOT_HOME=str(home))
    assert got.returncode == 2
    lines = got.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: m365bot {argv[0]}")
    assert lines[0].endswith(FIX) and "starlette" in lines[0]
    assert not home.exists()  # nothing was set up before the refusal


@pytest.mark.slow
def test_pytest_runs_with_the_plugin_and_without_the_emulator(core_venv: Path,
                                                              tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    got = _run(core_venv, "pytest", "-q", "-p", "no:cacheprovider", "test_user.py",
               cwd=tmp_path)
    out = got.stdout + got.stderr
    assert got.returncode == 1, out  # one test failed; pytest itself did not break
    # the plugin's fixture was found (else: "fixture 'emulator_info' not found") and said
    # what to install
    assert "1 passed, 1 error" in out and FIX in out and "not found" not in out

"""The README's "A bot in 20 lines" example, run verbatim in a fresh process against the
emulator: if the README's code drifts from the real API, this test fails.

The test plays the administrator: it creates the vault the example opens (master key in
``M365BOT_VAULT_KEY``), a locker ``outlook`` with the GCC High demo app's client id, tenant id
and client secret, and makes the example's actor ``bot`` a consumer of that locker. The example
finds the emulator through ``Settings.from_env()`` (``M365BOT_PROXY``, ``M365BOT_CA_BUNDLE``),
exactly as a bot behind a corporate proxy would.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from readme_support import MAILBOX, bot_environment, readme_block


def readme_example() -> str:
    """The first ```python block under the "A bot in 20 lines" heading."""
    return readme_block("## A bot in 20 lines")


def _inbox_subjects(emulator: Any, address: str, top: int) -> list[str]:
    box = emulator.state.mailboxes[address]
    inbox = next(f.id for f in box.folders.values() if f.well_known_name == "inbox")
    msgs = [m.props for m in box.messages.values() if m.folder_id == inbox]
    msgs.sort(key=lambda p: p.get("receivedDateTime", ""), reverse=True)
    return [p.get("subject") for p in msgs[:top]]


def test_readme_example_runs_against_the_emulator(
    emulator: Any, emulator_info: dict[str, Any], tmp_path: Path,
    scan_output: Callable[..., None],
) -> None:
    home = tmp_path / "home"
    env, secret = bot_environment(emulator_info, home)
    key = env["M365BOT_VAULT_KEY"]
    tokens_before = emulator.control.count("token")
    done = subprocess.run([sys.executable, "-c", readme_example()], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    scan_output(done.stdout + done.stderr, "README example")
    assert done.returncode == 0, done.stderr
    assert secret not in done.stdout + done.stderr

    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2, done.stdout
    test = ast.literal_eval(lines[0])  # the connection test: session.info()
    assert test["cloud"] == "Azure US GCC High"
    assert test["mailbox"] == MAILBOX
    assert test["identity"] == "m365bot-demo" and test["identity_type"] == "app"
    assert test["kind"] == "global" and test["name"] == "outlook"
    assert {"Mail.ReadWrite", "Mail.Send"} <= set(test["permissions"])
    subjects = ast.literal_eval(lines[1])
    assert subjects and subjects == _inbox_subjects(emulator, MAILBOX, 5)

    # The secret really came from the vault (read by the consumer 'bot', audited), and the
    # example got its own token from the GCC High login host.
    from m365bot.vault import Vault

    with Vault.open(home / "vault.db", actor="admin") as v:
        v.unlock(key=key)
        reads = [e for e in v.audit_log(locker="outlook") if e.action == "value.read"]
    assert {(e.actor, e.attribute) for e in reads} >= {
        ("bot", "client_id"), ("bot", "tenant_id"), ("bot", "client_secret")}
    assert emulator.control.count("token") == tokens_before + 1


def readme_recipe() -> str:
    """The ```bash block under "Run it on the emulator" (the README's copy-paste recipe)."""
    return readme_block("### Run it on the emulator", "bash")


def test_readme_recipe_runs_word_for_word(tmp_path: Path,
                                          scan_output: Callable[..., None]) -> None:
    """A new user's first run: save the example as bot.py, paste the recipe into a shell.
    Real processes throughout: the served emulator, the m365bot CLI, jq and the bot."""
    (tmp_path / "bot.py").write_text(readme_example())
    env = {k: v for k, v in os.environ.items() if not k.startswith("M365BOT_")}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"  # m365bot, python3
    log_out, log_err = tmp_path / "recipe.out", tmp_path / "recipe.err"
    with log_out.open("w") as fo, log_err.open("w") as fe:
        shell = subprocess.Popen(["bash", "-euo", "pipefail", "-c", readme_recipe()],
                                 cwd=tmp_path, env=env, stdout=fo, stderr=fe,
                                 start_new_session=True)
        try:
            shell.wait(timeout=180)
        finally:  # a failed step leaves the emulator running: end the recipe's process group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(shell.pid, signal.SIGKILL)
            shell.wait()
    out, err = log_out.read_text(), log_err.read_text()
    scan_output(out + err, "README recipe")
    assert shell.returncode == 0, err[-3000:]
    app = json.loads((tmp_path / "app.json").read_text())
    assert not [s for s in app["secrets"] if s["value"] in out + err]
    test_line = next(line for line in out.splitlines() if line.startswith("{'kind'"))
    test = ast.literal_eval(test_line)
    assert test["cloud"] == "Azure US GCC High" and test["mailbox"] == MAILBOX
    assert test["identity"] == "m365bot-demo" and test["kind"] == "global"
    subjects = ast.literal_eval(out.splitlines()[out.splitlines().index(test_line) + 1])
    assert "Case 77 opened" in subjects  # the GCC High ops mailbox's Inbox on the emulator

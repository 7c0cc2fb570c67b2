"""docs/outlook.md's "New-mail trigger" section runs for real against the emulator: its
Python (sync and async) on Hans's session, and its command lines with the page's profile,
the long-running one stopped with SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any

import pytest
from docs_support import blocks, deliver, lines, save_profile, section, with_emulator
from outlook_support import HANS, OPS, run_cli

from m365bot.sessions import Session


def test_trigger_python_examples_run(outlook_emulator: Any, hans: Session,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    sync_block, async_block = blocks(section("New-mail trigger"), "python")
    time.sleep(1.1)  # mail of the start's own second counts as new (none lost at the edge)
    exec(compile(sync_block, "docs/outlook.md", "exec"), {"session": hans})
    # the first two watches start the cursor after "Angebot": nothing new; then start="all"
    assert capsys.readouterr().out.splitlines() == ["unread: Angebot"]
    deliver(outlook_emulator, HANS, "Neu 1")
    exec(compile(sync_block, "docs/outlook.md", "exec"), {"session": hans})
    assert capsys.readouterr().out.splitlines() == [
        "new: Neu 1 from vertrieb@kunde.example", "unread: Neu 1"]
    hans.folders.create("Inbox/Sales")
    deliver(outlook_emulator, HANS, "Sales 1", folder="Sales")
    exec(compile(async_block, "docs/outlook.md", "exec"), {"session": hans})
    assert capsys.readouterr().out.splitlines() == ["async new: Sales 1", "1"]


def test_trigger_command_lines_run(outlook_emulator: Any, cli: dict[str, Any]) -> None:
    save_profile(cli)
    deliver(outlook_emulator, OPS, "Auftrag 7")
    once_all, once_json, forever = (
        with_emulator(words, cli)
        for words in lines(blocks(section("New-mail trigger"), "bash")[0]))
    first = run_cli(once_all, cli["env"])
    assert first.returncode == 0 and "Auftrag 7" in first.stdout, first.stderr
    second = run_cli(once_json, cli["env"])
    assert second.returncode == 0 and second.stdout.strip() == "[]", second.stderr
    proc = subprocess.Popen([sys.executable, "-m", "m365bot", *forever], env=cli["env"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "Stopped after 0 new email(s)." in err, err

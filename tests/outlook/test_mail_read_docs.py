"""docs/outlook.md's "Get emails" section runs for real against the emulator: its Python
(sync and async) on Hans's session, and its command lines with the profile the page saves
(on the shared ops mailbox, where a message from the example's sender is delivered first)."""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest
from outlook_support import OPS, run_cli
from test_docs_outlook import _blocks, _lines, _section, _with_emulator

from m365bot.sessions import Session


def deliver(emu: Any, mailbox: str, subject: str, folder: str = "inbox") -> None:
    from m365bot.emulator.graph.seed import seed_message

    with emu.state.lock:
        seed_message(emu.state, emu.state.mailbox(mailbox), {
            "folder": folder, "subject": subject, "from": "vertrieb@kunde.example",
            "to": [mailbox], "body": f"Text of {subject}"})


def profile(cli: dict[str, Any]) -> None:
    """Save the page's "ops" profile (the first line of its profile section)."""
    line = _lines(_blocks(_section("The command line: connection options and profiles"),
                          "bash")[0])[0]
    assert run_cli(_with_emulator(line, cli), cli["env"]).returncode == 0


def test_get_emails_python_examples_run(emu: Any, hans: Session,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    sync_block, async_block = _blocks(_section("Get emails"), "python")
    exec(compile(sync_block, "docs/outlook.md", "exec"), {"session": hans})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].endswith(" vertrieb@kunde.example Angebot")
    assert printed[1].startswith("hans@contoso.onmicrosoft.com ")
    assert printed[-1] == "1 found"
    exec(compile(async_block, "docs/outlook.md", "exec"), {"session": hans})
    assert capsys.readouterr().out.strip() == "Angebot normal"


def test_get_emails_command_lines_run(emu: Any, cli: dict[str, Any]) -> None:
    profile(cli)
    deliver(emu, OPS, "Angebot 42")
    lines = _lines(_blocks(_section("Get emails"), "bash")[0])
    outputs = []
    for words in lines:
        words = [outputs[1][0]["id"] if w == "MESSAGE_ID" else w for w in words]
        proc = run_cli(_with_emulator(words, cli), cli["env"])
        assert proc.returncode == 0, f"{shlex.join(words)}: {proc.stderr}"
        outputs.append(json.loads(proc.stdout) if "--json" in words else proc.stdout)
    assert "Angebot 42" in outputs[0] and "1 message(s)" in outputs[0]
    assert [m["subject"] for m in outputs[1]] == ["Angebot 42"]
    assert "Subject: Angebot 42" in outputs[2] and "Text of Angebot 42" in outputs[2]

"""docs/outlook.md's "Get emails" section runs for real against the emulator: its Python
(sync and async) on Hans's session, and its command lines with the profile the page saves
(on the shared ops mailbox, where a message from the example's sender is delivered first)."""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest
from docs_support import blocks, deliver, lines, save_profile, section, with_emulator
from outlook_support import OPS, run_cli

from m365bot.sessions import Session


def test_get_emails_python_examples_run(outlook_emulator: Any, hans: Session,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    sync_block, async_block = blocks(section("Get emails"), "python")
    exec(compile(sync_block, "docs/outlook.md", "exec"), {"session": hans})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].endswith(" vertrieb@kunde.example Angebot")
    assert printed[1].startswith("hans@contoso.onmicrosoft.com ")
    assert printed[-1] == "1 found"
    exec(compile(async_block, "docs/outlook.md", "exec"), {"session": hans})
    assert capsys.readouterr().out.strip() == "Angebot normal"


def test_get_emails_command_lines_run(outlook_emulator: Any, cli: dict[str, Any]) -> None:
    save_profile(cli)
    deliver(outlook_emulator, OPS, "Angebot 42")
    outputs = []
    for words in lines(blocks(section("Get emails"), "bash")[0]):
        words = [outputs[1][0]["id"] if w == "MESSAGE_ID" else w for w in words]
        proc = run_cli(with_emulator(words, cli), cli["env"])
        assert proc.returncode == 0, f"{shlex.join(words)}: {proc.stderr}"
        outputs.append(json.loads(proc.stdout) if "--json" in words else proc.stdout)
    assert "Angebot 42" in outputs[0] and "1 message(s)" in outputs[0]
    assert [m["subject"] for m in outputs[1]] == ["Angebot 42"]
    assert "Subject: Angebot 42" in outputs[2] and "Text of Angebot 42" in outputs[2]

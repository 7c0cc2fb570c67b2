"""docs/outlook.md's examples run for real against the emulator: the Folders section's Python
(sync and async) on a session, and its command lines, with the profile the page saves (CID and
TID replaced by the demo app's ids, and ``--emulator`` added so the process finds the
emulator). If the page drifts from the API or the CLI, these fail."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from outlook_support import run_cli

from m365bot.sessions import Session

PAGE = Path(__file__).resolve().parents[2] / "docs" / "outlook.md"


def _section(title: str) -> str:
    return PAGE.read_text().split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def _blocks(section: str, kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", section, re.S)


def _lines(block: str) -> list[list[str]]:
    return [shlex.split(line) for line in block.replace("\\\n", " ").splitlines()
            if line.strip()]


def test_folders_python_examples_run(emu: Any, hans: Session,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    sync_block, async_block = _blocks(_section("Folders"), "python")
    exec(compile(sync_block, "docs/outlook.md", "exec"), {"session": hans})
    printed = capsys.readouterr().out
    assert "Posteingang/Sales/2026 0 0" in printed  # the tree, under Hans's German Inbox
    assert "Archiv/Sales" in printed                # where the move put it
    assert emu.control.count("mailFolders.create") == 2
    assert emu.control.count("mailFolders.move") == 1
    assert emu.control.count("mailFolders.delete") == 1
    assert not hans.folders.exists("Archive/Sales") and not hans.folders.exists("Inbox/Sales")
    exec(compile(async_block, "docs/outlook.md", "exec"), {"session": hans})
    assert capsys.readouterr().out.strip() == "Posteingang/Sales/2026 True"


def test_models_example_runs(emu: Any, ops: Session,
                             capsys: pytest.CaptureFixture[str]) -> None:
    (block,) = _blocks(_section("What the actions return"), "python")
    first = ops.graph_get(f"/users/{ops.mailbox}/mailFolders/inbox/messages",
                          params={"$filter": "subject eq 'Order 5001 received'"}).body["value"][0]
    exec(compile(block, "docs/outlook.md", "exec"), {"session": ops, "mid": first["id"]})
    printed = capsys.readouterr().out
    assert printed.startswith("2026-11-25 07:45:00+00:00 orders@northwind.example Order 5001")
    assert "Packing list attached." in printed


def _with_emulator(words: list[str], cli: dict[str, Any]) -> list[str]:
    app = cli["app"]
    words = [{"CID": app["client_id"], "TID": app["tenant_id"]}.get(w, w) for w in words]
    if words[1:3] == ["profile", "save"]:
        words += ["--emulator", cli["info_file"]]
    return words[1:]  # without "m365bot"


def test_profile_and_folder_command_lines_run(cli: dict[str, Any], emu: Any) -> None:
    profile_lines = _lines(_blocks(_section("The command line: connection options and "
                                            "profiles"), "bash")[0])
    folder_lines = _lines(_blocks(_section("Folders"), "bash")[0])
    for words in profile_lines:
        proc = run_cli(_with_emulator(words, cli), cli["env"])
        assert proc.returncode == 0, f"{shlex.join(words)}: {proc.stderr}"
    assert not (cli["home"] / "profiles" / "ops.json").exists()  # the block ends by deleting
    run_cli(_with_emulator(profile_lines[0], cli), cli["env"])   # save it again for the folders
    outputs = []
    for words in folder_lines:
        proc = run_cli(_with_emulator(words, cli), cli["env"])
        assert proc.returncode == 0, f"{shlex.join(words)}: {proc.stderr}"
        outputs.append(proc.stdout)
    assert "Inbox/Sales/2026" in outputs[2]                  # folder list Inbox
    assert '"path": "Archive/Sales"' in outputs[4]           # folder move ... --json
    assert emu.control.count("mailFolders.delete", 204) == 1

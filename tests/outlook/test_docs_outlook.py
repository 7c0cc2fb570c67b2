"""docs/outlook.md's examples run for real against the emulator: the Folders section's Python
(sync and async) on a session, and its command lines, with the profile the page saves (CID and
TID replaced by the demo app's ids, and ``--emulator`` added so the process finds the
emulator). If the page drifts from the API or the CLI, these fail."""

from __future__ import annotations

import shlex
from typing import Any

import pytest
from docs_support import blocks, lines, section, with_emulator
from outlook_support import run_cli

from m365bot.sessions import Session


def test_folders_python_examples_run(outlook_emulator: Any, hans: Session,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    sync_block, async_block = blocks(section("Folders"), "python")
    exec(compile(sync_block, "docs/outlook.md", "exec"), {"session": hans})
    printed = capsys.readouterr().out
    assert "Posteingang/Sales/2026 0 0" in printed  # the tree, under Hans's German Inbox
    assert "Archiv/Sales" in printed                # where the move put it
    assert outlook_emulator.control.count("mailFolders.create") == 2
    assert outlook_emulator.control.count("mailFolders.move") == 1
    assert outlook_emulator.control.count("mailFolders.delete") == 1
    assert not hans.folders.exists("Archive/Sales") and not hans.folders.exists("Inbox/Sales")
    exec(compile(async_block, "docs/outlook.md", "exec"), {"session": hans})
    assert capsys.readouterr().out.strip() == "Posteingang/Sales/2026 True"


def test_models_example_runs(outlook_emulator: Any, ops: Session,
                             capsys: pytest.CaptureFixture[str]) -> None:
    (block,) = blocks(section("What the actions return"), "python")
    first = ops.graph_get(f"/users/{ops.mailbox}/mailFolders/inbox/messages",
                          params={"$filter": "subject eq 'Order 5001 received'"}).body["value"][0]
    exec(compile(block, "docs/outlook.md", "exec"), {"session": ops, "mid": first["id"]})
    printed = capsys.readouterr().out
    assert printed.startswith("2026-11-25 07:45:00+00:00 orders@northwind.example Order 5001")
    assert "Packing list attached." in printed


def test_profile_and_folder_command_lines_run(cli: dict[str, Any], outlook_emulator: Any) -> None:
    profile_lines = lines(blocks(section("The command line: connection options and "
                                          "profiles"), "bash")[0])
    folder_lines = lines(blocks(section("Folders"), "bash")[0])
    for words in profile_lines:
        proc = run_cli(with_emulator(words, cli), cli["env"])
        assert proc.returncode == 0, f"{shlex.join(words)}: {proc.stderr}"
    assert not (cli["home"] / "profiles" / "ops.json").exists()  # the block ends by deleting
    run_cli(with_emulator(profile_lines[0], cli), cli["env"])   # save it again for the folders
    outputs = []
    for words in folder_lines:
        proc = run_cli(with_emulator(words, cli), cli["env"])
        assert proc.returncode == 0, f"{shlex.join(words)}: {proc.stderr}"
        outputs.append(proc.stdout)
    assert "Inbox/Sales/2026" in outputs[2]                  # folder list Inbox
    assert '"path": "Archive/Sales"' in outputs[4]           # folder move ... --json
    assert outlook_emulator.control.count("mailFolders.delete", 204) == 1

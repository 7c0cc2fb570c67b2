"""The README's second example, "A bot that triages a shared mailbox", run verbatim in a fresh
process against the emulator: the invoices' attachments land in ``invoices/`` under safe names
(one of them arrives as ``../../evil.pdf``), each sender gets one reply, the emails end up in
Inbox/Invoices, the other mail stays, and a second run files and answers nothing twice."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from readme_support import MAILBOX, bot_environment, readme_block


def triage_example() -> str:
    return readme_block("## A bot that triages a shared mailbox")


def _deliver(emulator: Any) -> None:
    from m365bot.emulator.graph.seed import seed_message

    box = emulator.state.mailboxes[MAILBOX]
    with emulator.state.lock:
        for n, name in ((1, "invoice-1.pdf"), (2, "../../evil.pdf")):
            seed_message(emulator.state, box, {
                "folder": "inbox", "subject": f"Invoice {n}", "from": "billing@vendor.example",
                "to": [MAILBOX], "body": "attached", "is_read": False,
                "attachments": [{"name": name, "content": f"PDF {n}"}]})
        seed_message(emulator.state, box, {
            "folder": "inbox", "subject": "Invoice question", "from": "x@vendor.example",
            "to": [MAILBOX], "body": "no file", "is_read": False})


def _folder_of(emulator: Any, subject: str) -> str:
    box = emulator.state.mailboxes[MAILBOX]
    with emulator.state.lock:
        (msg,) = [m for m in box.messages.values() if m.props.get("subject") == subject]
        return str(box.folders[msg.folder_id].display_name)


def test_readme_triage_example_runs_against_the_emulator(
    emulator: Any, emulator_info: dict[str, Any], tmp_path: Path,
    scan_output: Callable[..., None],
) -> None:
    env, _ = bot_environment(emulator_info, tmp_path / "home")
    _deliver(emulator)
    runs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", triage_example()], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        scan_output(done.stdout + done.stderr, "README triage example")
        assert done.returncode == 0, done.stderr
        runs.append(done.stdout.strip().splitlines())
    first, second = runs
    assert first[-1] == "2 of 2 invoices filed"
    assert sorted(Path(p).name for p in first[:-1]) == ["evil.pdf", "invoice-1.pdf"]
    saved = tmp_path / "invoices"
    assert sorted(p.name for p in saved.iterdir()) == ["evil.pdf", "invoice-1.pdf"]
    assert (saved / "evil.pdf").read_text() == "PDF 2" and not (tmp_path.parent / "evil.pdf"
                                                               ).exists()
    assert _folder_of(emulator, "Invoice 1") == "Invoices"
    assert _folder_of(emulator, "Invoice 2") == "Invoices"
    assert _folder_of(emulator, "Invoice question") != "Invoices"
    assert second == ["0 of 0 invoices filed"]  # nothing left to file, nothing saved twice
    replies = [m["subject"] for m in emulator.control.outbound()
               if "billing@vendor.example" in m["to"]]
    assert sorted(replies) == ["RE: Invoice 1", "RE: Invoice 2"]  # one answer per invoice

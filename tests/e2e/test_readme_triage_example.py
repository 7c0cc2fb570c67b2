"""The README's second example, "A bot that triages a shared mailbox", run verbatim in a fresh
process against the emulator: the invoices' attachments land in ``invoices/`` under safe names
(one of them arrives as ``../../evil.pdf``), each sender gets one reply, the emails end up in
Inbox/Invoices, the other mail stays, and a second run files and answers nothing twice."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from test_readme_example import MAILBOX, README, _prepare_vault


def triage_example() -> str:
    section = README.read_text().split("## A bot that triages a shared mailbox", 1)[1]
    found = re.search(r"```python\n(.*?)```", section.split("\n## ", 1)[0], re.S)
    assert found, "README.md has no python block under 'A bot that triages...'"
    return found.group(1)


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
    tenant = next(t for t in emulator_info["tenants"] if t["cloud"] == "usgovhigh")
    app = next(a for a in emulator_info["apps"]
               if a["tenant_id"] == tenant["id"] and a["name"] == "m365bot-demo")
    secret = max(app["secrets"], key=lambda s: s["expires"])["value"]
    home = tmp_path / "home"
    key = _prepare_vault(home, app, secret)
    _deliver(emulator)
    env = {k: v for k, v in os.environ.items() if not k.startswith("M365BOT_")}
    env.update({"M365BOT_HOME": str(home), "M365BOT_PROXY": emulator_info["proxy_url"],
                "M365BOT_CA_BUNDLE": emulator_info["ca_bundle"], "M365BOT_VAULT_KEY": key})
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

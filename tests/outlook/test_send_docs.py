"""docs/outlook.md's Send and "Reply, reply all and forward" sections run for real against
the emulator: their Python (sync and async) on Hans's session, and their command lines with
the page's ``ops`` profile. If the page drifts from the API or the CLI, these fail."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
from outlook_support import HANS, OPS, run_cli
from send_support import ALICE, BOB, copies, received
from test_docs_outlook import _blocks, _lines, _section, _with_emulator

from m365bot.sessions import Session


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The files the examples name, in the working folder."""
    (tmp_path / "invoice-1001.pdf").write_bytes(b"%PDF-1.4 invoice 1001")
    (tmp_path / "invoice.html").write_text("<p>Invoice attached</p>")
    (tmp_path / "checklist.txt").write_text("1. check\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _subjects(emu: Any, address: str) -> list[str]:
    return sorted(str(m.props.get("subject")) for m in received_all(emu, address))


def received_all(emu: Any, address: str) -> list[Any]:
    from m365bot.emulator.graph import store

    with emu.state.lock:
        box = emu.state.mailbox(address)
        inbox = store.well_known(box, "inbox").id
        return [m for m in box.messages.values() if m.folder_id == inbox]


def test_send_python_examples_run(emu: Any, hans: Session, files: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    sync_block, async_block = _blocks(_section("Send"), "python")
    exec(compile(sync_block, "docs/outlook.md", "exec"), {"session": hans})
    status, marker = capsys.readouterr().out.split()[:2]
    assert status == "sent"
    (invoice,) = received(emu, ALICE, marker)
    assert sorted(a.props["name"] for a in invoice.attachments) == [
        "invoice-1001.pdf", "notes.txt"]
    assert len(received(emu, BOB, marker)) == 1
    subjects = _subjects(emu, ALICE)
    assert {"From the team desk", "On behalf of the desk", "Report"} <= set(subjects)
    (desk,) = [m for m in received_all(emu, ALICE) if m.props["subject"] == "From the team desk"]
    assert desk.props["sender"]["emailAddress"]["address"] == OPS
    (behalf,) = [m for m in received_all(emu, ALICE)
                 if m.props["subject"] == "On behalf of the desk"]
    assert behalf.props["sender"]["emailAddress"]["address"] == HANS
    exec(compile(async_block, "docs/outlook.md", "exec"), {"session": hans})
    assert capsys.readouterr().out.strip() == "sent"


def test_reply_python_examples_run(emu: Any, hans: Session, session_for: Any,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    offer = session_for(ALICE).mail.send(to=HANS, cc=BOB, subject="Offer", body="42 EUR")
    (msg,) = received(emu, HANS, offer.internet_message_id)
    sync_block, async_block = _blocks(_section("Reply, reply all and forward"), "python")
    exec(compile(sync_block, "docs/outlook.md", "exec"), {"session": hans, "mid": msg.id})
    assert capsys.readouterr().out.strip() == "sent"
    assert _subjects(emu, ALICE).count("RE: Offer") == 2      # reply and the full-body reply
    assert "FW: Offer" in _subjects(emu, ALICE)
    assert "RE: Offer" in _subjects(emu, BOB)                 # reply all without the sender
    assert "RE: Offer" in _subjects(emu, OPS)                 # its cc
    exec(compile(async_block, "docs/outlook.md", "exec"), {"session": hans, "mid": msg.id})
    assert capsys.readouterr().out.strip() == "sent"
    assert "FW: Offer" in _subjects(emu, BOB)


def test_send_and_reply_command_lines_run(cli: dict[str, Any], emu: Any, files: Path,
                                          session_for: Any) -> None:
    profile = _lines(_blocks(_section("The command line: connection options and profiles"),
                             "bash")[0])[0]
    assert run_cli(_with_emulator(profile, cli), cli["env"]).returncode == 0
    for words in _lines(_blocks(_section("Send"), "bash")[0]):
        proc = run_cli(_with_emulator(words, cli), cli["env"])
        assert proc.returncode == 0, f"{shlex.join(words)}: {proc.stderr}"
    assert "Invoice 1001" in _subjects(emu, ALICE) and "Invoice 1001" in _subjects(emu, BOB)
    (behalf,) = [m for m in received_all(emu, BOB) if m.props["subject"] == "For the desk"]
    assert behalf.props["from"]["emailAddress"]["address"] == OPS
    assert behalf.props["sender"]["emailAddress"]["address"] == ALICE
    assert copies(emu, ALICE, behalf.props["internetMessageId"]) == []

    asked = session_for(ALICE).mail.send(to=OPS, cc=BOB, subject="Question", body="?")
    (msg,) = received(emu, OPS, asked.internet_message_id)
    for words in _lines(_blocks(_section("Reply, reply all and forward"), "bash")[0]):
        words = [msg.id if w == "$ID" else w for w in words]
        proc = run_cli(_with_emulator(words, cli), cli["env"])
        assert proc.returncode == 0, f"{shlex.join(words)}: {proc.stderr}"
    assert _subjects(emu, ALICE).count("RE: Question") == 1   # reply-all left Alice out
    assert "FW: Question" in _subjects(emu, ALICE)
    assert "RE: Question" in _subjects(emu, BOB)

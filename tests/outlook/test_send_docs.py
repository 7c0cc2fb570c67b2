"""docs/outlook.md's Send and "Reply, reply all and forward" sections run for real against
the emulator: their Python (sync and async) on Hans's session, and their command lines with
the page's ``ops`` profile. If the page drifts from the API or the CLI, these fail."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
from docs_support import blocks, lines, section, with_emulator
from outlook_support import HANS, OPS, run_cli
from send_support import ALICE, BOB, copies, received

from m365bot.sessions import Session


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The files the examples name, in the working folder."""
    (tmp_path / "invoice-1001.pdf").write_bytes(b"%PDF-1.4 invoice 1001")
    (tmp_path / "invoice.html").write_text("<p>Invoice attached</p>")
    (tmp_path / "checklist.txt").write_text("1. check\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _subjects(emulator: Any, address: str) -> list[str]:
    return sorted(str(m.props.get("subject")) for m in received_all(emulator, address))


def received_all(emulator: Any, address: str) -> list[Any]:
    from m365bot.emulator.graph import store

    with emulator.state.lock:
        box = emulator.state.mailbox(address)
        inbox = store.well_known(box, "inbox").id
        return [m for m in box.messages.values() if m.folder_id == inbox]


def test_send_python_examples_run(outlook_emulator: Any, hans: Session, files: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    sync_block, async_block = blocks(section("Send"), "python")
    exec(compile(sync_block, "docs/outlook.md", "exec"), {"session": hans})
    status, marker = capsys.readouterr().out.split()[:2]
    assert status == "sent"
    (invoice,) = received(outlook_emulator, ALICE, marker)
    assert sorted(a.props["name"] for a in invoice.attachments) == [
        "invoice-1001.pdf", "notes.txt"]
    assert len(received(outlook_emulator, BOB, marker)) == 1
    subjects = _subjects(outlook_emulator, ALICE)
    assert {"From the team desk", "On behalf of the desk", "Report"} <= set(subjects)
    (desk,) = [m for m in received_all(outlook_emulator,
                                       ALICE) if m.props["subject"] == "From the team desk"]
    assert desk.props["sender"]["emailAddress"]["address"] == OPS
    (behalf,) = [m for m in received_all(outlook_emulator, ALICE)
                 if m.props["subject"] == "On behalf of the desk"]
    assert behalf.props["sender"]["emailAddress"]["address"] == HANS
    exec(compile(async_block, "docs/outlook.md", "exec"), {"session": hans})
    assert capsys.readouterr().out.strip() == "sent"


def test_reply_python_examples_run(outlook_emulator: Any, hans: Session, session_for: Any,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    offer = session_for(ALICE).mail.send(to=HANS, cc=BOB, subject="Offer", body="42 EUR")
    (msg,) = received(outlook_emulator, HANS, offer.internet_message_id)
    sync_block, async_block = blocks(section("Reply, reply all and forward"), "python")
    exec(compile(sync_block, "docs/outlook.md", "exec"), {"session": hans, "mid": msg.id})
    assert capsys.readouterr().out.strip() == "sent"
    assert _subjects(outlook_emulator,
                     ALICE).count("RE: Offer") == 2      # reply and the full-body reply
    assert "FW: Offer" in _subjects(outlook_emulator, ALICE)
    assert "RE: Offer" in _subjects(outlook_emulator,
                                    BOB)                 # reply all without the sender
    assert "RE: Offer" in _subjects(outlook_emulator, OPS)                 # its cc
    exec(compile(async_block, "docs/outlook.md", "exec"), {"session": hans, "mid": msg.id})
    assert capsys.readouterr().out.strip() == "sent"
    assert "FW: Offer" in _subjects(outlook_emulator, BOB)


def test_send_and_reply_command_lines_run(cli: dict[str, Any], outlook_emulator: Any, files: Path,
                                          session_for: Any) -> None:
    profile = lines(blocks(section("The command line: connection options and profiles"),
                           "bash")[0])[0]
    assert run_cli(with_emulator(profile, cli), cli["env"]).returncode == 0
    for words in lines(blocks(section("Send"), "bash")[0]):
        proc = run_cli(with_emulator(words, cli), cli["env"])
        assert proc.returncode == 0, f"{shlex.join(words)}: {proc.stderr}"
    assert "Invoice 1001" in _subjects(outlook_emulator,
                                       ALICE) and "Invoice 1001" in _subjects(outlook_emulator, BOB)
    (behalf,
     ) = [m for m in received_all(outlook_emulator, BOB) if m.props["subject"] == "For the desk"]
    assert behalf.props["from"]["emailAddress"]["address"] == OPS
    assert behalf.props["sender"]["emailAddress"]["address"] == ALICE
    assert copies(outlook_emulator, ALICE, behalf.props["internetMessageId"]) == []

    asked = session_for(ALICE).mail.send(to=OPS, cc=BOB, subject="Question", body="?")
    (msg,) = received(outlook_emulator, OPS, asked.internet_message_id)
    for words in lines(blocks(section("Reply, reply all and forward"), "bash")[0]):
        words = [msg.id if w == "$ID" else w for w in words]
        proc = run_cli(with_emulator(words, cli), cli["env"])
        assert proc.returncode == 0, f"{shlex.join(words)}: {proc.stderr}"
    assert _subjects(outlook_emulator,
                     ALICE).count("RE: Question") == 1   # reply-all left Alice out
    assert "FW: Question" in _subjects(outlook_emulator, ALICE)
    assert "RE: Question" in _subjects(outlook_emulator, BOB)

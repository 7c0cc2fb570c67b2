"""docs/outlook.md's "Move, copy, delete...", "Bulk actions" and "Attachments" sections run
for real against the emulator: their Python (sync and async) and their command lines, with
the profile the page saves (on the shared ops mailbox)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
from docs_support import blocks, lines, save_profile, section, with_emulator
from manage_support import folder_id, placement, seed
from outlook_support import run_cli

from m365bot.sessions import Session

MOVE = "Move, copy, delete, read status, flags and categories"


def _id(session: Session, subject: str) -> str:
    return next(e.id for e in session.mail.list("Inbox", subject_contains=subject))


def _run(python: str, **names: Any) -> None:
    exec(compile(python, "docs/outlook.md", "exec"), names)


def test_move_section_python_runs(outlook_emulator: Any, hans: Session, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    sync_block, async_block = blocks(section(MOVE), "python")
    mid = _id(hans, "Angebot")
    _run(sync_block, session=hans, mid=mid, eml_path=tmp_path / "a.eml")
    assert capsys.readouterr().out.strip() == "True flagged 2026-12-01 ('Invoices', 'Q4')"
    assert b"Subject: Angebot" in (tmp_path / "a.eml").read_bytes()
    box = outlook_emulator.state.mailbox("hans@contoso.onmicrosoft.com")
    deleted = folder_id(outlook_emulator, "deleteditems")
    assert [m.folder_id for m in box.messages.values()
            if m.props.get("subject") == "Angebot"].count(deleted) == 1
    (imid,) = {m.props["internetMessageId"] for m in box.messages.values()
               if m.props.get("subject") == "Angebot"}
    done = folder_id(outlook_emulator, "Done")
    assert done not in placement(outlook_emulator, [imid])[imid]  # deleted for good
    seed(outlook_emulator, 1, prefix="Async")
    other = _id(hans, "Async")
    _run(async_block, session=hans, mid=other)
    moved = hans.mail.get(other)
    assert moved.categories == ("Later",) and moved.is_read is False


def test_bulk_section_python_runs(outlook_emulator: Any, hans: Session,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    sync_block, async_block = blocks(section("Bulk actions"), "python")
    _run(sync_block, session=hans)
    assert capsys.readouterr().out.splitlines() == ["1 moved", "1 marked, 1 deleted"]
    _run(async_block, session=hans)
    assert capsys.readouterr().out.strip() == "1 copied back"
    assert [e.subject for e in hans.mail.list("Inbox")] == ["Angebot"]


def test_attachments_section_python_runs(outlook_emulator: Any, ops: Session, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    sync_block, async_block = blocks(section("Attachments"), "python")
    mid = _id(ops, "Order 5001")
    _run(sync_block, session=ops, mid=mid, out_dir=tmp_path)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("packing-list-5001.txt file ")
    assert printed[1] == "packing-list-5001.txt 3 x widget"
    assert printed[2] == "['packing-list-5001 (2).txt']"
    assert printed[3].endswith(" saved") and int(printed[3].split()[0]) >= 1
    _run(async_block, session=ops, mid=mid, out_dir=tmp_path)
    assert capsys.readouterr().out.strip() == "1 1"


def _cli_lines(title: str, cli: dict[str, Any], subs: dict[str, str]) -> list[Any]:
    outputs = []
    for words in lines(blocks(section(title), "bash")[0]):
        words = [subs.get(w, w) for w in words]
        proc = run_cli(with_emulator(words, cli), cli["env"])
        assert proc.returncode == 0, f"{shlex.join(words)}: {proc.stderr}"
        outputs.append(json.loads(proc.stdout) if "--json" in words else proc.stdout)
    return outputs


def test_move_command_lines_run(outlook_emulator: Any, cli: dict[str, Any], ops: Session,
                                tmp_path: Path) -> None:
    save_profile(cli)
    mid = _id(ops, "Order 5001")
    out = _cli_lines(MOVE, cli, {"MESSAGE_ID": mid, "order.eml": str(tmp_path / "o.eml")})
    assert out[0][0]["ok"] and out[0][0]["new_id"]
    assert b"Order 5001" in (tmp_path / "o.eml").read_bytes()
    got = ops.mail.get(mid)
    assert got.categories == ("Invoices", "Q4") and got.flag and got.flag.status == "flagged"
    assert got.is_read is False
    assert [e.subject for e in ops.mail.list("Deleted Items")] == ["Order 5001 received"]
    assert [e.subject for e in ops.mail.list("Inbox", subject_contains="Order 5001")] == [
        "Order 5001 received"]  # the copy


def test_bulk_command_lines_run(outlook_emulator: Any, cli: dict[str, Any], ops: Session) -> None:
    save_profile(cli)
    orders = [e.subject for e in ops.mail.list("Inbox", senders="orders@northwind.example")]
    out = _cli_lines("Bulk actions", cli, {})
    assert len(out[0]) == len(orders) >= 2 and all(r["ok"] for r in out[0])
    left = [(e.subject, e.is_read) for e in ops.mail.list("Archive")]
    assert sorted(left) == sorted((s, True) for s in orders if "5001" not in s)


def test_attachment_command_lines_run(outlook_emulator: Any, cli: dict[str, Any], ops: Session,
                                      tmp_path: Path) -> None:
    save_profile(cli)
    saved = tmp_path / "saved"
    out = _cli_lines("Attachments", cli, {"MESSAGE_ID": _id(ops, "Order 5001"),
                                          "saved": str(saved)})
    assert "packing-list-5001.txt" in out[0]
    assert [Path(r["path"]).name for r in out[1]] == ["packing-list-5001.txt"]
    assert (saved / "packing-list-5001 (2).txt").read_text() == "3 x widget"  # the bulk run

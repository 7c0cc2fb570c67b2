"""The CLI of the move/copy/delete/mark/flag/categorize/save-eml and attachment commands,
as real ``m365bot`` processes against the emulator: per-item --json results, the mailbox
afterwards, exit 1 when an email failed, one-line errors (exit 2) that send nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from manage_support import attach, folder_id, message, placement, seed
from outlook_support import HANS, graph_calls, last_seq, run_cli


def test_bulk_move_by_filter_and_mark_by_id(outlook_emulator: Any, cli: dict[str, Any]) -> None:
    imids = seed(outlook_emulator, 25, prefix="Bulk")
    moved = run_cli(["mail", "move", "--to", "Projekte", "--subject", "Bulk", "--json",
                     *cli["connect"]], cli["env"])
    assert moved.returncode == 0, moved.stderr
    rows = json.loads(moved.stdout)
    assert len(rows) == 25 and all(r["ok"] for r in rows)
    target = folder_id(outlook_emulator, "Projekte")
    assert all(p == [target] for p in placement(outlook_emulator, imids).values())
    mark = run_cli(["mail", "mark", rows[0]["new_id"], "--as", "read", *cli["connect"]],
                   cli["env"])
    assert mark.returncode == 0 and "1 of 1 ok" in mark.stdout
    box = outlook_emulator.state.mailbox(HANS)
    read = [m for m in box.messages.values() if m.props["isRead"] is True
            and m.props.get("internetMessageId") in imids]
    assert [m.immutable_id for m in read] == [rows[0]["new_id"]]


def test_flag_categorize_save_eml_and_attachments(outlook_emulator: Any, cli: dict[str, Any],
                                                  tmp_path: Path) -> None:
    (imid,) = seed(outlook_emulator, 1, prefix="Anhang")
    attach(outlook_emulator, imid, "file", "a.pdf", b"%PDF-1")
    mid = message(outlook_emulator, imid).id
    flag = run_cli(["mail", "flag", mid, "--due", "2026-12-01", *cli["connect"]], cli["env"])
    assert flag.returncode == 0, flag.stderr
    assert message(outlook_emulator, imid).props["flag"]["flagStatus"] == "flagged"
    cat = run_cli(["mail", "categorize", mid, "--category", "A", "--category", "B",
                   *cli["connect"]], cli["env"])
    assert cat.returncode == 0 and message(outlook_emulator, imid).props["categories"] == ["A", "B"]
    eml = run_cli(["mail", "save-eml", mid, str(tmp_path / "m.eml"), *cli["connect"]],
                  cli["env"])
    assert eml.returncode == 0 and b"Subject: Anhang 0" in (tmp_path / "m.eml").read_bytes()
    listed = run_cli(["attachment", "list", mid, "--json", *cli["connect"]], cli["env"])
    assert [a["name"] for a in json.loads(listed.stdout)] == ["a.pdf"]
    saved = run_cli(["attachment", "save", "--to", str(tmp_path / "att"), "--subject",
                     "Anhang", "--json", *cli["connect"]], cli["env"])
    assert saved.returncode == 0, saved.stderr
    assert (tmp_path / "att" / "a.pdf").read_bytes() == b"%PDF-1"


def test_a_failed_email_exits_1_and_bad_input_exits_2_sending_nothing(
        outlook_emulator: Any, cli: dict[str, Any]) -> None:
    seed(outlook_emulator, 3, prefix="Bulk")
    outlook_emulator.control.add_fault(op="messages.update", kind="status", status=403, nth=2)
    mixed = run_cli(["mail", "mark", "--subject", "Bulk", *cli["connect"]], cli["env"])
    assert mixed.returncode == 1 and "2 of 3 ok" in mixed.stdout
    since = last_seq(outlook_emulator)
    for args, field in ([["mail", "move", "--to", "Inbox//x"], "--to"],
                        [["mail", "move", "bad id!", "--to", "Archive"], "ID"],
                        [["mail", "flag", "AAMkAGQ1abcdef", "--due", "someday"], "--due"],
                        [["mail", "categorize", "AAMkAGQ1abcdef"], "--category"],
                        [["attachment", "save", "AAMkAGQ1abcdef", "AAMkAtt1", "--to", ".",
                          "--name", "../x"], "--name"]):
        bad = run_cli([*args, *cli["connect"]], cli["env"])
        assert bad.returncode == 2, (args, bad.stderr)
        assert bad.stderr.startswith(f"Error: {field}"), bad.stderr
        assert "Traceback" not in bad.stderr
    assert graph_calls(outlook_emulator, since) == []

"""``m365bot mail send|reply|reply-all|forward`` in real processes against the emulator:
a table or --json with the status, attachments and shared mailboxes, and bad input as one line
that sends nothing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from outlook_support import HANS, OPS, graph_calls, last_seq, run_cli
from send_support import ALICE, BOB, attachment_bytes, copies, received


def _one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and " Fix: " in lines[0], lines
    for word in words:
        assert word in lines[0], lines[0]


def test_send_with_a_body_file_and_attachment(cli: dict[str, Any], outlook_emulator: Any,
                                              tmp_path: Path) -> None:
    body = tmp_path / "body.html"
    body.write_text("<p>Grüße</p>", encoding="utf-8")
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.4 report")
    proc = run_cli(["mail", "send", "--to", f"{ALICE}; {BOB}", "--cc", OPS, "--subject",
                    "Bericht", "--body-file", str(body), "--html", "--attach", str(report),
                    "--importance", "high", *cli["connect"], "--json"], cli["env"])
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "sent" and result["mailbox"] == HANS
    (got,) = received(outlook_emulator, ALICE, result["internet_message_id"])
    assert got.props["body"] == {"contentType": "html", "content": "<p>Grüße</p>"}
    assert attachment_bytes(got) == {"report.pdf": b"%PDF-1.4 report"}
    assert len(received(outlook_emulator, BOB, result["internet_message_id"])) == 1
    assert len(received(outlook_emulator, OPS, result["internet_message_id"])) == 1


def test_send_on_behalf_without_a_sent_copy_shows_a_table(cli: dict[str, Any],
                                                          outlook_emulator: Any) -> None:
    proc = run_cli(["mail", "send", "--to", ALICE, "--subject", "Hi", "--body", "x",
                    "--from-mailbox", OPS, "--send-on-behalf", "--no-save-to-sent",
                    *cli["connect"]], cli["env"])
    assert proc.returncode == 0, proc.stderr
    assert "sent" in proc.stdout and "Internet message id" in proc.stdout
    (got,) = [m for m in outlook_emulator.state.mailbox(ALICE).messages.values()
              if m.props.get("subject") == "Hi"]
    assert got.props["from"]["emailAddress"]["address"] == OPS
    assert got.props["sender"]["emailAddress"]["address"] == HANS
    assert copies(outlook_emulator, HANS, got.props["internetMessageId"]) == []


def test_reply_reply_all_and_forward(cli: dict[str, Any], outlook_emulator: Any,
                                     session_for: Any) -> None:
    sent = session_for(ALICE).mail.send(to=HANS, cc=BOB, subject="Frage", body="?")
    (msg,) = received(outlook_emulator, HANS, sent.internet_message_id)
    env, connect = cli["env"], cli["connect"]
    r1 = run_cli(["mail", "reply", msg.id, "--comment", "Ja.", *connect, "--json"], env)
    assert r1.returncode == 0, r1.stderr
    marker = json.loads(r1.stdout)["internet_message_id"]
    assert len(received(outlook_emulator, ALICE, marker)) == 1
    assert received(outlook_emulator, BOB, marker) == []
    r2 = run_cli(["mail", "reply-all", msg.id, "--comment", "An alle", "--exclude-sender",
                  *connect, "--json"], env)
    marker2 = json.loads(r2.stdout)["internet_message_id"]
    assert received(outlook_emulator, ALICE,
                    marker2) == [] and len(received(outlook_emulator, BOB, marker2)) == 1
    r3 = run_cli(["mail", "forward", msg.id, "--to", OPS, "--comment", "FYI", *connect,
                  "--json"], env)
    marker3 = json.loads(r3.stdout)["internet_message_id"]
    assert len(received(outlook_emulator, OPS, marker3)) == 1


@pytest.mark.parametrize(("args", "words"), [
    (["send", "--to", "bob@@contoso.com", "--subject", "x"], ["--to", "bob@@contoso.com"]),
    (["send", "--to", ALICE, "--attach", "/no/such/file.pdf"], ["--attach", "file.pdf"]),
    (["send", "--to", ALICE, "--body", "a", "--body-file", "b.txt"], ["--body"]),
    (["send", "--subject", "nobody"], ["--to"]),
    (["reply", "bad/id", "--comment", "x"], ["ID"]),
    (["forward", "AAMkAD", "--to", "nobody"], ["--to", "nobody"]),
])
def test_bad_input_is_one_line_and_sends_nothing(cli: dict[str, Any], outlook_emulator: Any,
                                                 args: list[str], words: list[str]) -> None:
    since = last_seq(outlook_emulator)
    proc = run_cli(["mail", *args, *cli["connect"]], cli["env"])
    _one_line_error(proc, *words)
    assert graph_calls(outlook_emulator, since) == [], "nothing was sent"
    assert outlook_emulator.control.requests(op="token", since=since) == [], "not even a sign-in"

"""docs/outlook.md's Calendar section runs for real against the emulator: its Python (sync and
async) on the ops mailbox, and its command lines with the ``ops`` profile the page saves
(EVENT_ID and INVITE_ID replaced by the ids the commands made and an invitation Bob sent)."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from docs_support import blocks, lines, section, with_emulator
from outlook_support import OPS, run_cli

from m365bot.sessions import Session

BOB = "bob@contoso.onmicrosoft.com"


def _invite(bob: Session, subject: str, day: int) -> None:
    bob.calendar.create(subject, datetime(2026, 12, day, 10), datetime(2026, 12, day, 11),
                        time_zone="UTC", attendees=[OPS])


def _bob_inbox(bob: Session) -> list[str]:
    body = bob.graph_get(f"/users/{BOB}/mailFolders/inbox/messages",
                         params={"$select": "subject", "$top": "100"}).body
    return [m["subject"] for m in body["value"]]


def test_calendar_python_examples_run(outlook_emulator: Any, ops: Session,
                                      session_for: Callable[[str], Session],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    bob = session_for(BOB)
    _invite(bob, "Planning", 2)
    _invite(bob, "Offsite", 3)
    sync_block, async_block = blocks(section("Calendar"), "python")
    exec(compile(sync_block, "docs/outlook.md", "exec"), {"session": ops})
    printed = capsys.readouterr().out.splitlines()
    assert "2026-12-07 09:00:00 Weekly review occurrence" in printed  # Berlin time
    assert len([p for p in printed if "Weekly review" in p]) == 4
    inbox = _bob_inbox(bob)
    assert {"Accepted: Planning", "Accepted: Offsite"} <= set(inbox)
    assert any("Weekly review" in s for s in inbox)              # invited, then cancelled
    assert outlook_emulator.control.count("events.cancel") == 1
    assert outlook_emulator.control.count("events.update") == 1

    exec(compile(async_block, "docs/outlook.md", "exec"), {"session": ops})
    offsite = next(e for e in bob.calendar.list(datetime(2026, 12, 3, 0),
                                                datetime(2026, 12, 4, 0), time_zone="UTC"))
    assert {a.email.address: a.response for a in bob.calendar.get(offsite.id).attendees} == {
        OPS: "tentativelyAccepted"}
    assert "Tentative: Offsite" not in _bob_inbox(bob)           # send_response=False


def test_calendar_command_lines_run(cli: dict[str, Any], outlook_emulator: Any,
                                    session_for: Callable[[str], Session]) -> None:
    bob = session_for(BOB)
    _invite(bob, "Planning", 2)
    invite = next(iter(session_for(OPS).calendar.list(datetime(2026, 12, 2, 0),
                                                      datetime(2026, 12, 3, 0),
                                                      time_zone="UTC"))).id
    profile = lines(blocks(section("The command line: connection options and profiles"),
                           "bash")[0])[0]
    assert run_cli(with_emulator(profile, cli), cli["env"]).returncode == 0
    ids = {"INVITE_ID": invite}
    outputs = []
    for words in lines(blocks(section("Calendar"), "bash")[0]):
        proc = run_cli(with_emulator([ids.get(w, w) for w in words], cli), cli["env"])
        assert proc.returncode == 0, f"{shlex.join(words)}: {proc.stderr}"
        outputs.append(proc.stdout)
        if "create" in words:
            ids["EVENT_ID"] = json.loads(proc.stdout)["id"]
    assert outputs[1].count("Weekly review") == 4 and "2026-12-07 09:00-09:30" in outputs[1]
    got = json.loads(outputs[2])
    assert got["subject"] == "Weekly review" and got["is_online_meeting"] is True
    assert got["recurrence"]["count"] == 4
    assert "Room 5" in outputs[3]
    assert outlook_emulator.control.count("events.cancel", 202) == 1
    inbox = _bob_inbox(bob)
    assert {"Accepted: Planning", "Declined: Planning"} <= set(inbox)
    assert "Tentative: Planning" not in inbox                    # --no-send-response

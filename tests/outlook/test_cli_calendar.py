"""``m365bot calendar ...`` in real processes against the emulator: tables and --json for
list/get/create/update/delete, meeting responses, and one-line errors that send nothing."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pytest
from outlook_support import HANS, graph_calls, last_seq, run_cli

from m365bot.sessions import Session

BOB = "bob@contoso.onmicrosoft.com"


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_create_list_get_update_and_cancel(cli: dict[str, Any]) -> None:
    env, connect = cli["env"], cli["connect"]
    made = json.loads(_ok(run_cli([
        "calendar", "create", "Weekly sync", "--start", "2027-03-01T09:00",
        "--end", "2027-03-01T09:30", "--time-zone", "Europe/Berlin", "--attendee", BOB,
        "--location", "Room 2", "--online", "--repeat", "weekly", "--days", "monday",
        "--count", "2", "--json", *connect], env)))
    assert made["subject"] == "Weekly sync" and made["is_online_meeting"] is True
    assert made["start"] == {"date_time": "2027-03-01T09:00:00", "time_zone": "Europe/Berlin"}
    assert made["recurrence"]["count"] == 2 and made["recurrence"]["days_of_week"] == ["monday"]

    table = _ok(run_cli(["calendar", "list", "2027-03-01", "2027-03-15", "--time-zone",
                         "Europe/Berlin", *connect], env))
    assert table.count("Weekly sync") == 2 and "2027-03-08 09:00-09:30" in table
    assert "Times in Europe/Berlin" in table and "Room 2" in table
    listed = json.loads(_ok(run_cli(["calendar", "list", "2027-03-01", "2027-03-15", "--json",
                                     *connect], env)))
    assert [e["start"]["date_time"] for e in listed] == ["2027-03-01T08:00:00",
                                                          "2027-03-08T08:00:00"]  # UTC

    shown = _ok(run_cli(["calendar", "get", made["id"], *connect], env))
    assert BOB in shown and made["id"] in shown
    renamed = json.loads(_ok(run_cli(["calendar", "update", made["id"], "--subject",
                                      "Weekly sync (new room)", "--json", *connect], env)))
    assert renamed["subject"] == "Weekly sync (new room)" and renamed["location"] == "Room 2"
    cancelled = _ok(run_cli(["calendar", "delete", made["id"], "--comment", "Ended",
                             *connect], env))
    assert "Event cancelled." in cancelled
    assert json.loads(_ok(run_cli(["calendar", "list", "2027-03-01", "2027-03-15", "--json",
                                   *connect], env))) == []


def test_accept_and_decline_meetings(cli: dict[str, Any],
                                     session_for: Callable[[str], Session]) -> None:
    bob = session_for(BOB)
    for subject, hour in (("Budget", 9), ("Offsite", 13)):
        bob.calendar.create(subject, datetime(2027, 3, 2, hour), datetime(2027, 3, 2, hour + 1),
                            time_zone="UTC", attendees=[HANS])
    invited = {e.subject: e.id for e in session_for(HANS).calendar.list(
        date(2027, 3, 2), date(2027, 3, 3))}
    env, connect = cli["env"], cli["connect"]
    said = _ok(run_cli(["calendar", "accept", invited["Budget"], "--comment", "Gerne",
                        *connect], env))
    assert "Accepted." in said
    quiet = json.loads(_ok(run_cli(["calendar", "decline", invited["Offsite"],
                                    "--no-send-response", "--json", *connect], env)))
    assert quiet == {"id": invited["Offsite"], "response": "decline", "sent": False}
    inbox = bob.graph_get(f"/users/{BOB}/mailFolders/inbox/messages",
                          params={"$select": "subject"}).body["value"]
    assert [m["subject"] for m in inbox if "Budget" in m["subject"] or "Offsite" in
            m["subject"]] == ["Accepted: Budget"]


@pytest.mark.parametrize(("args", "word"), [
    (["create", "x", "--start", "2027-03-01T10:00", "--end", "2027-03-01T09:00"], "end"),
    (["create", "x", "--start", "2027-03-01T09:00", "--end", "2027-03-01T10:00",
      "--attendee", "bob@contoso.com, not an address"], "not an address"),
    (["list", "2027-03-01", "2027-03-02", "--time-zone", "Mars/Olympus"], "Mars/Olympus"),
    (["create", "x", "--start", "2027-03-01T09:00", "--end", "2027-03-01T10:00",
      "--repeat", "daily"], "no end"),
    (["accept", "../../messages"], "not an event id"),
    (["list", "yesterday", "2027-03-02"], "START: 'yesterday' is not a date or time"),
    (["create", "x", "--start", "2027-03-01T09:00", "--end", "at ten"],
     "--end: 'at ten' is not a date or time"),
    (["create", "x", "--start", "2027-03-01T09:00", "--end", "2027-03-01T08:00"],
     "--end: 2027-03-01 08:00:00 is before the start"),
    (["create", "x", "--start", "2027-03-01T09:00", "--end", "2027-03-01T10:00",
      "--repeat", "weekly", "--count", "3"], "--days monday,thursday"),
])
def test_bad_input_is_one_line_and_sends_nothing(cli: dict[str, Any], outlook_emulator: Any,
                                                 args: list[str], word: str) -> None:
    since = last_seq(outlook_emulator)
    proc = run_cli(["calendar", *args, *cli["connect"]], cli["env"])
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and " Fix: " in lines[0], lines
    assert word in lines[0]
    assert graph_calls(outlook_emulator, since) == []

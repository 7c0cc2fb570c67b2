"""The new-mail trigger over the emulator: delta queries, each email handed over once across
runs and sessions (a change to a handled email does not bring it back), the first-run
choice, filters, the cursor file (0600, one per mailbox/folder/filters), a real process
killed mid-batch that neither loses nor repeats an email, and the CLI (--once, SIGTERM)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from outlook_support import HANS, demo_app, graph_calls, last_seq, run_cli

from m365bot.config import Settings
from m365bot.errors import ConfigError
from m365bot.outlook.models import Email
from m365bot.sessions import Session


def _arrive(emulator: Any, *subjects: str, folder: str = "inbox", **spec: Any) -> None:
    """Mail delivered to Hans's folder now."""
    from m365bot.emulator.graph.seed import seed_message

    box = emulator.state.mailbox(HANS)
    with emulator.state.lock:
        for subject in subjects:
            seed_message(emulator.state, box, {"folder": folder, "subject": subject,
                                               "from": "shop@kunde.example", "to": [HANS], **spec})


def _iso(stamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))


def _subjects(emails: Any) -> list[str]:
    return [e.subject for e in emails]


def _cursors(settings: Settings) -> list[Path]:
    return sorted((settings.data_dir / "mail-watch").glob("*.json"))


def test_each_new_email_is_handed_over_once_across_polls_and_runs(
        outlook_emulator: Any, hans: Session, session_for: Callable[[str], Session],
        outlook_settings: Settings) -> None:
    time.sleep(1.1)  # mail of the start's own second counts as new (none lost at the edge)
    assert _subjects(hans.mail.new_emails("Inbox")) == []  # "Angebot" was there before
    _arrive(outlook_emulator, "Bestellung 1", "Bestellung 2")
    _arrive(outlook_emulator, "Bestellung 3")
    since = last_seq(outlook_emulator)
    assert _subjects(hans.mail.new_emails("inbox")) == ["Bestellung 1", "Bestellung 2",
                                                         "Bestellung 3"]
    assert {c["op"] for c in graph_calls(outlook_emulator, since)} == {"messages.delta"}
    assert _subjects(hans.mail.new_emails("Inbox")) == []
    # a handled email that changes (read, flagged) is not new again
    first = next(iter(hans.mail.list("Inbox", subject_contains="Bestellung 1")))
    hans.graph_request("PATCH", f"/users/{HANS}/messages/{first.id}", json={"isRead": True})
    _arrive(outlook_emulator, "Bestellung 4")
    # another run of the bot (a new session) carries on from the saved cursor
    other = session_for(HANS)
    assert _subjects(other.mail.new_emails("Inbox")) == ["Bestellung 4"]
    cursor = _cursors(outlook_settings)
    assert len(cursor) == 1 and cursor[0].stat().st_mode & 0o777 == 0o600
    saved = json.loads(cursor[0].read_text())
    assert saved["mailbox"] == HANS and saved["delta_link"].startswith("https://")


def test_a_refused_saved_position_starts_afresh_without_repeating(
        outlook_emulator: Any, hans: Session, outlook_settings: Settings) -> None:
    time.sleep(1.1)
    assert _subjects(hans.mail.new_emails("Inbox")) == []
    _arrive(outlook_emulator, "Alt 1", "Alt 2")
    assert _subjects(hans.mail.new_emails("Inbox")) == ["Alt 1", "Alt 2"]
    _arrive(outlook_emulator, "Neu")
    # the saved deltaLink expires (Graph: 410 / a sync-state error): the trigger asks again
    # from its start and hands over only what it has not handled
    (path,) = _cursors(outlook_settings)
    saved = json.loads(path.read_text())
    saved["delta_link"] = saved["delta_link"].split("$deltatoken=")[0] + "$deltatoken=garbled"
    path.write_text(json.dumps(saved))
    assert _subjects(hans.mail.new_emails("Inbox")) == ["Neu"]
    assert _subjects(hans.mail.new_emails("Inbox")) == []


def test_start_all_filters_and_one_cursor_per_filter(
        outlook_emulator: Any, hans: Session, outlook_settings: Settings) -> None:
    _arrive(outlook_emulator, "Rechnung 1", importance="high")
    _arrive(outlook_emulator, "Rechnung 2", is_read=True, importance="high")
    _arrive(outlook_emulator, "Werbung", **{"from": "news@werbung.example"})
    unread = hans.mail.new_emails("Inbox", start="all", status="unread",
                                  senders=["shop@kunde.example", "vertrieb@kunde.example"])
    assert _subjects(unread) == ["Angebot", "Rechnung 1"]  # the mail already there, oldest first
    high = hans.mail.new_emails("Inbox", start="all", importance="high")
    assert _subjects(high) == ["Rechnung 1", "Rechnung 2"]  # its own cursor
    assert len(_cursors(outlook_settings)) == 2
    _arrive(outlook_emulator, "Rechnung 3", importance="high")
    _arrive(outlook_emulator, "Rechnung 4", importance="low")
    assert _subjects(hans.mail.new_emails("Inbox", importance="high")) == ["Rechnung 3"]


def test_watch_calls_the_handler_and_an_email_left_unhandled_comes_again(
        outlook_emulator: Any, hans: Session) -> None:
    hans.mail.watch("Inbox", print, once=True)
    _arrive(outlook_emulator, "A", "B", "C")
    seen: list[str] = []

    def fail_on_b(email: Email) -> None:
        if email.subject == "B":
            raise RuntimeError("handler broke")
        seen.append(email.subject or "")

    with pytest.raises(RuntimeError):
        hans.mail.watch("Inbox", fail_on_b, once=True)
    assert seen == ["A"]
    assert hans.mail.watch("Inbox", lambda e: seen.append(e.subject or ""), once=True) == 2
    assert seen == ["A", "B", "C"]  # B again (its handler never returned), A not


def test_the_async_trigger(outlook_emulator: Any, hans: Session) -> None:
    async def main() -> list[str]:
        await hans.aio.mail.watch("Inbox/Vertrieb", print, once=True)
        _arrive(outlook_emulator, "Async 1", "Async 2", folder="Vertrieb")
        got: list[str] = []

        async def handle(email: Email) -> None:
            got.append(email.subject or "")

        assert await hans.aio.mail.watch("Inbox/Vertrieb", handle, once=True) == 2
        got += [e.subject or "" async for e in hans.aio.mail.new_emails("Inbox/Vertrieb")]
        return got

    assert asyncio.run(main()) == ["Async 1", "Async 2"]


def test_bad_trigger_input_sends_nothing(outlook_emulator: Any, hans: Session) -> None:
    since = last_seq(outlook_emulator)
    for kwargs, field in (({"search": "x"}, "search"), ({"start": "yesterday"}, "start"),
                          ({"status": "new"}, "status"), ({"colour": "red"}, "filters")):
        with pytest.raises(ConfigError) as info:
            hans.mail.watcher("Inbox", **kwargs)
        assert info.value.field == field
    with pytest.raises(ConfigError) as info:
        hans.mail.watch("Inbox", print, interval=0)
    assert info.value.field == "interval"
    assert graph_calls(outlook_emulator, since) == []


_CHILD = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    import m365bot
    from m365bot.config import Settings
    from m365bot.values import Secret

    out, stall = Path(sys.argv[1]), sys.argv[2]
    settings = Settings(data_dir=Path(os.environ["HOME_DIR"]), proxy=os.environ["PROXY"],
                        ca_bundle=os.environ["CA"], timeout=20)
    s = m365bot.connect(cloud="global", mode="client-credentials",
                        client_id=os.environ["CID"], tenant_id=os.environ["TID"],
                        username=os.environ["BOX"], client_secret=Secret(os.environ["SECRET"]),
                        settings=settings)

    def handle(email):
        if email.subject == stall:
            with out.open("a") as f:
                f.write("stalled\\n")
            time.sleep(600)  # killed here, mid-batch
        with out.open("a") as f:
            f.write(email.subject + "\\n")

    print(s.mail.watch("Inbox", handle, once=True, start=os.environ["START"]))
""")


def test_a_process_killed_mid_batch_neither_loses_nor_repeats_an_email(
        outlook_emulator: Any, outlook_settings: Settings, tmp_path: Path) -> None:
    from outlook_support import demo_secret

    app = demo_app(outlook_emulator.info)
    script = tmp_path / "bot.py"
    script.write_text(_CHILD)
    out = tmp_path / "handled.txt"
    env = {**os.environ, "HOME_DIR": str(outlook_settings.data_dir),
           "PROXY": str(outlook_settings.proxy),
           "CA": str(outlook_settings.ca_bundle), "CID": app["client_id"], "TID": app["tenant_id"],
           "BOX": HANS, "SECRET": demo_secret(app),
           "START": _iso(time.time() + 30)}  # after the scenario's "Angebot"
    for i in range(1, 7):
        _arrive(outlook_emulator, f"Auftrag {i}", received=_iso(time.time() + 60 + i))
    bot = subprocess.Popen([sys.executable, str(script), str(out), "Auftrag 4"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while "stalled" not in (out.read_text() if out.exists() else ""):
        assert bot.poll() is None, bot.communicate()
        assert time.monotonic() < deadline, "the bot never reached the 4th email"
        time.sleep(0.1)
    bot.send_signal(signal.SIGKILL)
    bot.wait(30)
    assert out.read_text().split("\n")[:3] == ["Auftrag 1", "Auftrag 2", "Auftrag 3"]
    again = subprocess.run([sys.executable, str(script), str(out), "none"], env=env,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "3"  # 4, 5 and 6; not 1, 2, 3 again
    handled = [line for line in out.read_text().splitlines() if line != "stalled"]
    assert handled == [f"Auftrag {i}" for i in range(1, 7)]  # each once, none lost


def test_cli_watch_once_then_long_running_until_sigterm(outlook_emulator: Any,
                                                        cli: dict[str, Any]) -> None:
    first = run_cli(["mail", "watch", "--start", "all", "--once", "--json", *cli["connect"]],
                    cli["env"])
    assert first.returncode == 0, first.stderr
    assert [m["subject"] for m in json.loads(first.stdout)] == ["Angebot"]
    again = run_cli(["mail", "watch", "--once", *cli["connect"]], cli["env"])
    assert again.returncode == 0 and "0 message(s)" in again.stdout
    watcher = subprocess.Popen([sys.executable, "-m", "m365bot", "mail", "watch", "--interval",
                                "1", "--json", *cli["connect"]], env=cli["env"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1)
        _arrive(outlook_emulator, "Live 1")
        assert watcher.stdout is not None
        line = watcher.stdout.readline()  # printed as it arrives
        assert json.loads(line)["subject"] == "Live 1"
        watcher.send_signal(signal.SIGTERM)
        _, err = watcher.communicate(timeout=60)
    finally:
        if watcher.poll() is None:
            watcher.kill()
    assert watcher.returncode == 0 and "Stopped after 1 new email(s)." in err
    bad = run_cli(["mail", "watch", "--once", "--start", "someday", *cli["connect"]],
                  cli["env"])
    assert bad.returncode == 2 and bad.stderr.startswith("Error: --start: ")

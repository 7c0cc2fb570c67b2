"""Bulk actions over the emulator: every matching email, 20 per $batch, one Result each; a
403 reported per item, a 429 or 504 that was applied not applied twice (nor, in the last
round, reported failed); the journal (0600, kept after failures so a rerun redoes only
those); and a real process killed mid-run whose rerun finishes with every email in its
target folder exactly once."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from manage_support import folder_id, message, placement, seed
from outlook_support import HANS, demo_app, graph_calls, last_seq

from m365bot.config import Settings
from m365bot.sessions import Session


def _moves(emulator: Any, since: int) -> collections.Counter[str]:
    """How many times each message was moved (applied) after record ``since``."""
    return collections.Counter(c["path"] for c in graph_calls(emulator, since)
                               if c["op"] == "messages.move" and c.get("applied"))


def test_move_all_moves_every_match_20_per_batch(outlook_emulator: Any, hans: Session) -> None:
    bulk = seed(outlook_emulator, 45, prefix="Bulk")
    other = seed(outlook_emulator, 3, prefix="Keep")
    since = last_seq(outlook_emulator)
    seen: list[tuple[int, int]] = []
    results = hans.mail.move_all("Projekte", folder="Inbox", subject_contains="Bulk",
                                 progress=lambda done, total: seen.append((done, total)))
    assert len(results) == 45 and all(r.ok and r.new_id for r in results)
    target = folder_id(outlook_emulator, "Projekte")
    assert all(p == [target] for p in placement(outlook_emulator, bulk).values())
    inbox = folder_id(outlook_emulator, "inbox")
    assert all(p == [inbox] for p in placement(outlook_emulator, other).values())
    batches = [c for c in graph_calls(outlook_emulator, since) if c["op"] == "batch"]
    assert len(batches) == 3  # 20 + 20 + 5
    assert seen[0] == (0, 45) and seen[-1] == (45, 45)
    assert not list((hans.graph.settings.data_dir / "jobs").iterdir())  # all done: gone


def test_mark_copy_delete_all_and_ids(outlook_emulator: Any, hans: Session) -> None:
    imids = seed(outlook_emulator, 4, prefix="Bulk")
    ids = [e.id for e in hans.mail.list("Inbox", subject_contains="Bulk")]
    assert all(r.ok for r in hans.mail.mark_all(read=True, folder="Inbox", status="unread",
                                                subject_contains="Bulk"))
    assert all(message(outlook_emulator, i).props["isRead"] for i in imids)
    assert all(r.ok for r in hans.mail.copy_all("Projekte", ids=ids[:2]))
    copies = placement(outlook_emulator, imids)
    assert sum(folder_id(outlook_emulator, "Projekte") in v for v in copies.values()) == 2
    assert all(r.ok for r in hans.mail.delete_all(ids=ids))
    deleted = folder_id(outlook_emulator, "deleteditems")
    inbox = folder_id(outlook_emulator, "inbox")
    assert all(deleted in v and inbox not in v
               for v in placement(outlook_emulator, imids).values())


def test_a_403_is_reported_per_item_and_a_rerun_redoes_only_it(outlook_emulator: Any,
                                                               hans: Session) -> None:
    imids = seed(outlook_emulator, 6, prefix="Bulk")
    hans.folders.get("Projekte")
    outlook_emulator.control.add_fault(op="messages.move", kind="status", status=403, nth=3,
                                       code="ErrorAccessDenied")
    results = hans.mail.move_all("Projekte", subject_contains="Bulk", job="weekly")
    bad = [r for r in results if not r.ok]
    assert len(bad) == 1 and bad[0].status == 403 and bad[0].code == "ErrorAccessDenied"
    journal = hans.graph.settings.data_dir / "jobs" / "weekly.jsonl"
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    assert len(json.loads(journal.read_text())["done"]) == 5  # kept as one line
    since = last_seq(outlook_emulator)
    again = hans.mail.move_all("Projekte", ids=[r.item_id for r in results], job="weekly")
    assert sum(r.skipped for r in again) == 5 and all(r.ok for r in again)
    assert sum(_moves(outlook_emulator, since).values()) == 1  # only the failed one
    target = folder_id(outlook_emulator, "Projekte")
    assert all(p == [target] for p in placement(outlook_emulator, imids).values())


def test_applied_429_and_504_items_are_checked_not_moved_twice(outlook_emulator: Any,
                                                               hans: Session) -> None:
    imids = seed(outlook_emulator, 20, prefix="Bulk")
    hans.folders.get("Projekte")
    outlook_emulator.control.add_fault(op="messages.move", kind="apply_then_status", status=429,
                                       retry_after=0, nth=2)
    outlook_emulator.control.add_fault(op="messages.move", kind="apply_then_status", status=504,
                                       nth=5)
    outlook_emulator.control.add_fault(op="messages.move", kind="status", status=503, nth=9)
    since = last_seq(outlook_emulator)
    results = hans.mail.move_all("Projekte", subject_contains="Bulk")
    assert all(r.ok for r in results), [r for r in results if not r.ok]
    moves = _moves(outlook_emulator, since)
    assert len(moves) == 20 and set(moves.values()) == {1}, moves
    target = folder_id(outlook_emulator, "Projekte")
    assert all(p == [target] for p in placement(outlook_emulator, imids).values())


def test_a_last_round_answer_lost_after_the_move_is_checked_not_reported_failed(
        outlook_emulator: Any, hans: Session) -> None:
    """One email meets a 503 in the first three rounds and in the last its move is applied,
    then answered 504: it is reported moved. Another meets a 503 in every round: it is
    reported failed, is still in the Inbox, and a rerun of the job moves it (and only it)."""
    from m365bot.outlook.bulk import ROUNDS

    imids = seed(outlook_emulator, 2, prefix="Lost")
    lost, busy = (e.id for e in hans.mail.list("Inbox", subject_contains="Lost"))
    hans.folders.get("Projekte")
    faults = outlook_emulator.control
    faults.add_fault(path=f"*/messages/{lost}/move", kind="status", status=503, retry_after=0,
                     probability=1.0, count=ROUNDS - 1)
    faults.add_fault(path=f"*/messages/{lost}/move", kind="apply_then_status", status=504,
                     nth=ROUNDS)
    faults.add_fault(path=f"*/messages/{busy}/move", kind="status", status=503, retry_after=0,
                     probability=1.0, count=ROUNDS)
    since = last_seq(outlook_emulator)
    first = {r.item_id: r for r in hans.mail.move_all("Projekte", ids=[lost, busy],
                                                      job="lost-answer")}
    assert first[lost].ok, first[lost]
    assert not first[busy].ok and first[busy].status == 503 and first[busy].code
    assert _moves(outlook_emulator, since) == {f"/v1.0/users/{HANS}/messages/{lost}/move": 1}
    target, inbox = folder_id(outlook_emulator, "Projekte"), folder_id(outlook_emulator, "inbox")
    assert sorted(placement(outlook_emulator, imids).values()) == sorted([[target], [inbox]])

    outlook_emulator.control.clear_faults()
    since = last_seq(outlook_emulator)
    again = {r.item_id: r for r in hans.mail.move_all("Projekte", ids=[lost, busy],
                                                      job="lost-answer")}
    assert again[lost].ok and again[lost].skipped  # done by the first run
    assert again[busy].ok and not again[busy].skipped
    assert list(_moves(outlook_emulator, since).values()) == [1]  # the failed one, once
    assert all(p == [target] for p in placement(outlook_emulator, imids).values())
    assert not list((hans.graph.settings.data_dir / "jobs").iterdir())


def test_an_unclear_failure_is_checked_again_by_a_rerun_before_it_is_sent(
        outlook_emulator: Any, hans: Session) -> None:
    """A copy that met a 503 in every round is reported failed (the check said: not
    applied), and Graph applies it afterwards, as a 504'd request can still finish. A rerun
    of the job checks it again before sending: it finds the copy and makes no second one."""
    from m365bot.outlook.bulk import ROUNDS

    seed(outlook_emulator, 1, prefix="Late")
    (late,) = (e.id for e in hans.mail.list("Inbox", subject_contains="Late"))
    hans.folders.get("Projekte")
    outlook_emulator.control.add_fault(path=f"*/messages/{late}/copy", kind="status",
                                       status=503, retry_after=0, probability=1.0,
                                       count=ROUNDS)
    (first,) = hans.mail.copy_all("Projekte", ids=[late], job="late-copy")
    assert not first.ok and first.status == 503 and first.code
    outlook_emulator.control.clear_faults()
    hans.mail.copy(late, "Projekte")  # Graph finishes the copy after all
    (again,) = hans.mail.copy_all("Projekte", ids=[late], job="late-copy")
    assert again.ok
    copies = list(hans.mail.list("Projekte", subject_contains="Late"))
    assert len(copies) == 1, "a copy made twice"


def test_the_async_bulk_twin(outlook_emulator: Any, hans: Session) -> None:
    imids = seed(outlook_emulator, 25, prefix="Bulk")

    async def main() -> list[Any]:
        try:
            return list(await hans.aio.mail.move_all("Archive", subject_contains="Bulk"))
        finally:
            await hans.agraph.aclose()

    results = asyncio.run(main())
    assert len(results) == 25 and all(r.ok for r in results)
    target = folder_id(outlook_emulator, "archive")
    assert all(p == [target] for p in placement(outlook_emulator, imids).values())


_CHILD = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    import m365bot
    from m365bot.config import Settings
    from m365bot.values import Secret

    progress, id_file = Path(sys.argv[1]), Path(sys.argv[2])
    settings = Settings(data_dir=Path(os.environ["HOME_DIR"]), proxy=os.environ["PROXY"],
                        ca_bundle=os.environ["CA"], timeout=60)
    s = m365bot.connect(cloud="global", mode="client-credentials",
                        client_id=os.environ["CID"], tenant_id=os.environ["TID"],
                        username=os.environ["BOX"], client_secret=Secret(os.environ["SECRET"]),
                        settings=settings)
    if not id_file.exists():  # the emails of the job, chosen once
        id_file.write_text(" ".join(e.id for e in s.mail.list("Inbox", subject_contains="Bulk")))
    results = s.mail.move_all("Projekte", ids=id_file.read_text().split(), job="nightly",
                              progress=lambda d, t: progress.write_text(str(d)))
    print(sum(r.ok for r in results), sum(r.skipped for r in results))
""")


def test_a_process_killed_mid_run_resumes_without_moving_anything_twice(
        outlook_emulator: Any, outlook_settings: Settings, tmp_path: Path) -> None:
    from outlook_support import demo_secret

    imids = seed(outlook_emulator, 100, prefix="Bulk")
    app = demo_app(outlook_emulator.info)
    script = tmp_path / "bulk_bot.py"
    script.write_text(_CHILD)
    progress = tmp_path / "progress.txt"
    env = {**os.environ, "HOME_DIR": str(outlook_settings.data_dir),
           "PROXY": str(outlook_settings.proxy),
           "CA": str(outlook_settings.ca_bundle), "CID": app["client_id"], "TID": app["tenant_id"],
           "BOX": HANS, "SECRET": demo_secret(app)}
    # the 50th move is applied, then its answer hangs: the bot is killed with its third
    # batch run by Outlook but not yet written to the journal as done
    outlook_emulator.control.add_fault(op="messages.move", kind="apply_then_slow", delay_ms=60_000,
                                       nth=50)
    since = last_seq(outlook_emulator)
    ids = tmp_path / "ids.txt"
    bot = subprocess.Popen([sys.executable, str(script), str(progress), str(ids)], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while sum(_moves(outlook_emulator, since).values()) < 50 or (
            progress.read_text() if progress.exists() else "") != "40":
        assert bot.poll() is None, bot.communicate()
        assert time.monotonic() < deadline, "the bot never reached its third batch"
        time.sleep(0.1)
    time.sleep(0.3)
    bot.send_signal(signal.SIGKILL)
    bot.wait(30)
    moved_before = sum(_moves(outlook_emulator, since).values())
    assert 50 <= moved_before < 100
    outlook_emulator.control.clear_faults()
    again = subprocess.run([sys.executable, str(script), str(progress), str(ids)], env=env,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    ok, skipped = map(int, again.stdout.split())
    assert (ok, skipped) == (100, 40)  # two batches journaled done; the third was checked
    moves = _moves(outlook_emulator, since)
    assert len(moves) == 100 and set(moves.values()) == {1}, "a message was moved twice"
    target = folder_id(outlook_emulator, "Projekte")
    assert all(p == [target] for p in placement(outlook_emulator, imids).values())


def test_items_refused_for_an_expired_token_get_a_fresh_one(outlook_emulator: Any,
                                                            hans: Session) -> None:
    imids = seed(outlook_emulator, 5, prefix="Bulk")
    hans.folders.get("Projekte")
    outlook_emulator.control.add_fault(op="messages.move", kind="status", status=401, nth=2,
                                       count=2,
                                       code="InvalidAuthenticationToken",
                                       message="Access token has expired or is not yet valid.")
    tokens = len(outlook_emulator.control.requests(op="token"))
    results = hans.mail.move_all("Projekte", subject_contains="Bulk")
    assert all(r.ok for r in results), [r for r in results if not r.ok]
    # one refresh for the batch
    assert len(outlook_emulator.control.requests(op="token")) == tokens + 1
    target = folder_id(outlook_emulator, "Projekte")
    assert all(p == [target] for p in placement(outlook_emulator, imids).values())


def _on_disk(tmp_path: Path, job: str) -> Any:
    """The journal as a rerun would open it."""
    from m365bot.outlook.bulk import Journal

    return Journal.open(Settings(data_dir=tmp_path), job, "move")


def test_the_journal_names_each_chunk_before_it_goes_out(tmp_path: Path) -> None:
    """One synced write per chunk, the next chunk's in the background: whenever ``begin``
    returns, the file on disk already names its items (done or pending), and a rerun
    checks whatever was pending."""
    from m365bot.outlook.bulk import Journal
    from m365bot.outlook.models import Result

    journal = Journal.open(Settings(data_dir=tmp_path), "ahead", "move")
    chunks = [[f"m{c}-{i}" for i in range(3)] for c in range(4)]
    for n, chunk in enumerate(chunks):
        journal.begin(chunk, chunks[n + 1] if n + 1 < len(chunks) else ())
        on_disk = _on_disk(tmp_path, "ahead")
        assert set(chunk) <= on_disk.pending, "sent before the journal named it"
        assert set(on_disk.done) <= {k for c in chunks[:n] for k in c}
        if n >= 2:  # the write begin waited for had the results of two chunks back
            assert set(chunks[n - 2][:2]) <= set(on_disk.done)
            assert chunks[n - 2][2] not in on_disk.pending  # refused: a rerun sends it again
        journal.finish([Result(item_id=k, ok=True, status=201) for k in chunk[:2]] +
                       [Result(item_id=chunk[2], ok=False, status=403)])
    journal.close([Result(item_id="x", ok=False, status=403)])
    final = json.loads(journal.path.read_text())  # one line: the whole state
    assert len(final["done"]) == 8 and final["pending"] == []
    again = _on_disk(tmp_path, "ahead")
    assert again.resumed == set() and again.skipped("m3-1") is not None
    assert again.skipped("m3-2") is None  # refused (403): a rerun sends it again


def test_each_journal_write_is_the_size_of_a_chunk_not_of_the_job(tmp_path: Path) -> None:
    # a job of 20,000 items rewrote the whole journal before each chunk: 2 GiB in all
    from m365bot.outlook.bulk import Journal
    from m365bot.outlook.models import Result

    journal = Journal.open(Settings(data_dir=tmp_path), "big", "move")
    chunks = [[f"AAMk{c:04d}-{i:02d}" for i in range(20)] for c in range(60)]
    for n, chunk in enumerate(chunks):
        journal.begin(chunk, chunks[n + 1] if n + 1 < len(chunks) else ())
        journal.finish([Result(item_id=k, ok=True, status=201, new_id=k + "-moved" * 20)
                        for k in chunk])
    journal.save()  # waits for the last chunk's write, then writes the last results
    lines = journal.path.read_bytes().splitlines()
    assert len(lines) == 61  # the whole state once, then one change per chunk, and the end
    sizes = [len(line) for line in lines[1:]]
    assert max(sizes[-10:]) <= 1.2 * max(sizes[:10]), sizes  # not growing with the job
    on_disk = _on_disk(tmp_path, "big")
    assert len(on_disk.done) == 60 * 20 and not on_disk.resumed
    first = on_disk.skipped(chunks[0][0])
    assert first is not None and first.new_id == chunks[0][0] + "-moved" * 20


def test_a_write_cut_short_by_a_crash_is_ignored_and_replaced(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from m365bot.outlook.bulk import Journal
    from m365bot.outlook.models import Result

    journal = Journal.open(Settings(data_dir=tmp_path), "torn", "move")
    journal.note("a", "report.pdf")
    journal.begin(["a", "b"], ["c", "d"])
    journal.finish([Result(item_id="a", ok=True, status=201)])
    journal.note("c", "report (2).pdf")  # a name reserved later, written with a change
    journal.begin(["x"])  # not named before: written before it returns
    with open(journal.path, "ab") as f:  # the next write, cut short
        f.write(b'{"done": {"c": {"status": 2')
    again = _on_disk(tmp_path, "torn")
    assert set(again.done) == {"a"} and again.resumed == {"b", "c", "d", "x"}
    assert again.notes == {"a": "report.pdf", "c": "report (2).pdf"}
    assert "torn: the journal's last write was cut short" in caplog.text
    again.finish([Result(item_id="c", ok=True, status=201)])
    again.begin(["e"])
    lines = again.path.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["pending"] == ["b", "d", "e", "x"]
    assert set(_on_disk(tmp_path, "torn").done) == {"a", "c"}
    assert _on_disk(tmp_path, "torn").notes["c"] == "report (2).pdf"  # kept in the whole line


def test_a_damaged_journal_is_refused_with_what_to_do(tmp_path: Path) -> None:
    from m365bot.errors import ConfigError
    from m365bot.outlook.bulk import Journal

    journal = Journal.open(Settings(data_dir=tmp_path), "bad", "move")
    journal.begin(["a"], ["b"])
    journal.begin(["b"], ["c"])
    journal.save()  # waits for the background write, then writes a third line
    lines = journal.path.read_text().splitlines()
    journal.path.write_text(lines[0] + "\n{not json\n" + lines[1] + "\n")
    with pytest.raises(ConfigError) as info:
        _on_disk(tmp_path, "bad")
    assert info.value.field == "job" and "damaged (line 2)" in info.value.message
    assert str(journal.path) in info.value.message  # which file to look at
    assert "remove it" in info.value.advice
    Journal.open(Settings(data_dir=tmp_path / "x"), "bad", "move").begin(["a"])
    with pytest.raises(ConfigError, match="is a 'move' job, not 'copy'") as info:
        Journal.open(Settings(data_dir=tmp_path / "x"), "bad", "copy")
    assert (info.value.field, info.value.advice) == ("job", "give this action its own job id")




def test_a_failed_background_write_stops_the_job_before_its_next_chunk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # no item may go out that the journal does not name: the error comes out of the next begin
    from m365bot.outlook import bulk
    from m365bot.outlook.models import Result

    journal = bulk.Journal.open(Settings(data_dir=tmp_path), "full", "move")
    journal.begin(["a"], ["b"])
    journal.finish([Result(item_id="a", ok=True, status=201)])

    def disk_full(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(bulk, "append_synced", disk_full)
    journal.begin(["b"], ["c"])  # named already: written in the background, which fails
    with pytest.raises(OSError, match="No space left on device"):
        journal.begin(["c"])

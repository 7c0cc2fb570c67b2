"""Attachments over the emulator: list; save one or all, byte-identical, with safe names,
never overwriting (``name (2).ext``) unless asked; an item attachment as .eml; a reference
attachment reported as not downloadable; a whole email as .eml; save every attachment of the
matching emails, resumable; bad input that sends nothing."""

from __future__ import annotations

import asyncio
import email
from pathlib import Path
from typing import Any

import pytest
from manage_support import attach, seed
from outlook_support import HANS, graph_calls, last_seq

from m365bot.errors import ConfigError
from m365bot.sessions import Session


def _mail(emulator: Any, hans: Session) -> tuple[str, str]:
    (imid,) = seed(emulator, 1, prefix="Anhang")
    return imid, next(e.id for e in hans.mail.list("Inbox", subject_contains="Anhang"))


def test_list_and_save_one_and_all_with_safe_names(outlook_emulator: Any, hans: Session,
                                                   tmp_path: Path) -> None:
    imid, mid = _mail(outlook_emulator, hans)
    pdf = bytes(range(256)) * 40
    attach(outlook_emulator, imid, "file", "../../evil/Rechnung.pdf", pdf)
    attach(outlook_emulator, imid, "file", "CON.txt", b"device")
    attach(outlook_emulator, imid, "item", "Weitergeleitet: Angebot")
    ref = attach(outlook_emulator, imid, "reference", "Plan.xlsx")
    found = hans.attachments.list(mid)
    assert [(a.kind, a.name) for a in found] == [
        ("file", "../../evil/Rechnung.pdf"), ("file", "CON.txt"),
        ("item", "Weitergeleitet: Angebot"), ("reference", "Plan.xlsx")]
    assert all(a.content is None for a in found)  # listed without their bytes
    out = tmp_path / "out"
    one = hans.attachments.save(mid, found[0].id, out)
    assert one == out / "Rechnung.pdf" and one.read_bytes() == pdf
    results = hans.attachments.save_all(mid, out)
    saved = {Path(r.path).name for r in results if r.ok and r.path}
    assert saved == {"Rechnung (2).pdf", "_CON.txt", "Weitergeleitet_ Angebot.eml"}
    assert sorted(p.name for p in out.iterdir()) == sorted(saved | {"Rechnung.pdf"})
    assert not list(tmp_path.rglob("evil")) and not (tmp_path / "Rechnung.pdf").exists()
    inner = email.message_from_bytes((out / "Weitergeleitet_ Angebot.eml").read_bytes())
    assert inner["Subject"] == "Weitergeleitet: Angebot"
    (bad,) = [r for r in results if not r.ok]
    assert bad.item_id.endswith(ref) and bad.code == "ReferenceAttachment"
    with pytest.raises(ConfigError) as info:
        hans.attachments.save(mid, ref, out)
    assert info.value.field == "attachment_id"
    again = hans.attachments.save(mid, found[0].id, out, overwrite=True)
    assert again == out / "Rechnung.pdf"  # replaced, not renamed
    named = hans.attachments.save(mid, found[0].id, out, name="copy.pdf")
    assert named.read_bytes() == pdf


def test_save_a_whole_email_as_eml(outlook_emulator: Any, hans: Session, tmp_path: Path) -> None:
    _, mid = _mail(outlook_emulator, hans)
    path = hans.mail.save_eml(mid, tmp_path / "mail.eml")
    parsed = email.message_from_bytes(path.read_bytes())
    assert parsed["Subject"] == "Anhang 0"
    with pytest.raises(ConfigError) as info:
        hans.mail.save_eml(mid, path)
    assert info.value.field == "path"
    in_folder = hans.mail.save_eml(mid, tmp_path)
    assert in_folder.name == "Anhang 0.eml"
    assert hans.mail.save_eml(mid, tmp_path).name == "Anhang 0 (2).eml"


def test_save_matching_is_resumable(outlook_emulator: Any, hans: Session, tmp_path: Path) -> None:
    imids = seed(outlook_emulator, 5, prefix="Rechnung",
                 attachments=[{"name": "r.pdf", "content": "x"}])
    seed(outlook_emulator, 2, prefix="Andere", attachments=[{"name": "o.pdf", "content": "y"}])
    outlook_emulator.control.add_fault(op="attachments.value", kind="status", status=403, nth=3)
    first = hans.attachments.save_matching(tmp_path, folder="Inbox",
                                           subject_contains="Rechnung", job="inv")
    assert len(first) == 5 and sum(r.ok for r in first) == 4
    again = hans.attachments.save_matching(tmp_path, folder="Inbox",
                                           subject_contains="Rechnung", job="inv")
    assert sum(r.skipped for r in again) == 4 and all(r.ok for r in again)
    names = sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".pdf")
    assert names == ["r (2).pdf", "r (3).pdf", "r (4).pdf", "r (5).pdf", "r.pdf"]
    assert len(imids) == 5


def test_save_matching_downloads_in_parallel_within_the_mailbox_limit(
        outlook_emulator: Any, hans: Session, tmp_path: Path) -> None:
    """Eight emails with a same-named attachment: the lists and downloads go out several at
    a time (never past Outlook's 4 in flight per mailbox), every file arrives whole, and the
    names follow the results' order (the emails'), as a sequential save would give them."""
    seed(outlook_emulator, 8, prefix="Parallel",
         attachments=[{"name": "scan.pdf", "content": "page " * 4000}])
    outlook_emulator.control.configure(latency_ms=60)  # requests overlap only if sent so
    results = hans.attachments.save_matching(tmp_path, folder="Inbox",
                                             subject_contains="Parallel", job="parallel")
    assert len(results) == 8 and all(r.ok for r in results)
    peaks = [v["peak_in_flight"] for k, v in
             outlook_emulator.control.counters()["throttle"].items() if k.endswith(HANS)]
    assert 2 <= max(peaks) <= 4, peaks
    assert [Path(str(r.path)).name for r in results] == [
        "scan.pdf", *(f"scan ({n}).pdf" for n in range(2, 9))]
    assert all(Path(str(r.path)).read_text() == "page " * 4000 for r in results)


def test_async_twins(outlook_emulator: Any, hans: Session, tmp_path: Path) -> None:
    imid, mid = _mail(outlook_emulator, hans)
    attach(outlook_emulator, imid, "file", "a.txt", b"A")

    async def main() -> Any:
        found = await hans.aio.attachments.list(mid)
        return await hans.aio.attachments.save(mid, found[0], tmp_path)

    assert asyncio.run(main()).read_bytes() == b"A"


@pytest.mark.parametrize(("call", "field"), [
    (lambda s, p: s.attachments.list("../x"), "id"),
    (lambda s, p: s.attachments.save("AAMkAGQ1abcdef", "a/b", p), "attachment_id"),
    (lambda s, p: s.attachments.save("AAMkAGQ1abcdef", "AAMkAtt1", p, name="../x"), "name"),
    (lambda s, p: s.attachments.save("AAMkAGQ1abcdef", "AAMkAtt1", p / "file.txt"),
     "folder"),
    (lambda s, p: s.attachments.save_matching(p, importance="urgent"), "importance"),
])
def test_bad_input_sends_nothing(outlook_emulator: Any, hans: Session, tmp_path: Path, call: Any,
                                 field: str) -> None:
    (tmp_path / "file.txt").write_text("x")
    since = last_seq(outlook_emulator)
    with pytest.raises(ConfigError) as info:
        call(hans, tmp_path)
    assert info.value.field == field
    assert graph_calls(outlook_emulator, since) == []

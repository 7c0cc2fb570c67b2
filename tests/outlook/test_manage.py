"""Move, copy, delete, mark, flag and categorize one email, over the emulator through Connect:
what the mailbox shows afterwards, the immutable id a move returns, exactly once after a lost
answer, the async twins, and bad input that sends nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from manage_support import folder_id, message, placement, seed
from outlook_support import graph_calls, last_seq

from m365bot.errors import ConfigError, NotFoundError
from m365bot.sessions import Session


def _id(hans: Session, subject: str = "Mail 0") -> str:
    return next(e.id for e in hans.mail.list("Inbox", subject_contains=subject))


def test_move_returns_an_id_that_survives_later_moves(outlook_emulator: Any, hans: Session) -> None:
    (imid,) = seed(outlook_emulator, 1)
    new_id = hans.mail.move(_id(hans), "Inbox/Vertrieb/2026")
    assert placement(outlook_emulator, [imid])[imid] == [folder_id(outlook_emulator, "2026")]
    again = hans.mail.move(new_id, "archive")  # the immutable id still names it
    assert again == new_id
    assert placement(outlook_emulator, [imid])[imid] == [folder_id(outlook_emulator, "archive")]
    assert hans.mail.get(new_id).subject == "Mail 0"


def test_copy_leaves_the_original_and_delete_goes_to_deleted_items(
        outlook_emulator: Any, hans: Session) -> None:
    (imid,) = seed(outlook_emulator, 1)
    mid = _id(hans)
    copy_id = hans.mail.copy(mid, "Projekte")
    assert copy_id and copy_id != mid
    assert sorted(placement(outlook_emulator, [imid])[imid]) == sorted(
        [folder_id(outlook_emulator, "inbox"), folder_id(outlook_emulator, "Projekte")])
    hans.mail.delete(mid)
    assert sorted(placement(outlook_emulator, [imid])[imid]) == sorted(
        [folder_id(outlook_emulator, "deleteditems"), folder_id(outlook_emulator, "Projekte")])
    hans.mail.delete(copy_id, permanent=True)  # out of every client's reach
    assert folder_id(outlook_emulator, "Projekte") not in placement(outlook_emulator, [imid])[imid]


def test_read_flags_and_categories_show_in_the_mailbox(outlook_emulator: Any,
                                                       hans: Session) -> None:
    (imid,) = seed(outlook_emulator, 1)
    mid = _id(hans)
    hans.mail.mark_read(mid)
    assert message(outlook_emulator, imid).props["isRead"] is True
    hans.mail.mark_unread(mid)
    assert message(outlook_emulator, imid).props["isRead"] is False
    due = datetime(2026, 12, 1, 17, tzinfo=UTC)
    hans.mail.flag(mid, due=due)
    got = hans.mail.get(mid)
    assert got.flag is not None and got.flag.status == "flagged" and got.flag.due == due
    hans.mail.complete(mid)
    assert hans.mail.get(mid).flag.status == "complete"  # type: ignore[union-attr]
    hans.mail.unflag(mid)
    assert hans.mail.get(mid).flag.status == "notFlagged"  # type: ignore[union-attr]
    hans.mail.set_categories(mid, ["Rechnung", "Rechnung", "Offen"])
    assert message(outlook_emulator, imid).props["categories"] == ["Rechnung", "Offen"]
    hans.mail.clear_categories(mid)
    assert message(outlook_emulator, imid).props["categories"] == []


@pytest.mark.parametrize("fault", [
    {"kind": "apply_then_status", "status": 504},
    {"kind": "apply_then_reset"},
    {"kind": "apply_then_status", "status": 429, "retry_after": 0},
])
def test_a_move_whose_answer_was_lost_is_not_moved_twice(
        outlook_emulator: Any, hans: Session, fault: dict[str, Any]) -> None:
    (imid,) = seed(outlook_emulator, 1)
    mid = _id(hans)
    hans.folders.get("Projekte")
    outlook_emulator.control.add_fault(op="messages.move", nth=1, **fault)
    since = last_seq(outlook_emulator)
    new_id = hans.mail.move(mid, "Projekte")
    assert placement(outlook_emulator, [imid])[imid] == [folder_id(outlook_emulator, "Projekte")]
    assert new_id and hans.mail.get(new_id).subject == "Mail 0"
    applied = [c for c in graph_calls(outlook_emulator, since) if c["op"] == "messages.move"
               and c.get("applied")]
    if fault["status" if "status" in fault else "kind"] != 429:
        # a 429 is resent by the engine (throttled means "not run"); with immutable ids the
        # second move keeps the one message where it is, which the placement above shows
        assert len(applied) == 1, applied


def test_a_copy_whose_answer_was_lost_makes_one_copy(outlook_emulator: Any, hans: Session) -> None:
    (imid,) = seed(outlook_emulator, 1)
    mid = _id(hans)
    outlook_emulator.control.add_fault(op="messages.copy", kind="apply_then_status", status=504,
                                       nth=1)
    hans.mail.copy(mid, "Projekte")
    assert sorted(placement(outlook_emulator, [imid])[imid]) == sorted(
        [folder_id(outlook_emulator, "inbox"), folder_id(outlook_emulator, "Projekte")])


def test_the_async_twins(outlook_emulator: Any, hans: Session) -> None:
    (imid,) = seed(outlook_emulator, 1)
    mid = _id(hans)

    async def main() -> str:
        try:
            await hans.aio.mail.mark_read(mid)
            await hans.aio.mail.set_categories(mid, "Async")
            return str(await hans.aio.mail.move(mid, "Projekte"))
        finally:
            await hans.agraph.aclose()

    new_id = asyncio.run(main())
    m = message(outlook_emulator, imid)
    assert m.props["isRead"] is True and m.props["categories"] == ["Async"]
    assert placement(outlook_emulator,
                     [imid])[imid] == [folder_id(outlook_emulator, "Projekte")] and new_id


@pytest.mark.parametrize(("call", "field"), [
    (lambda s: s.mail.move("../etc", "Archive"), "id"),
    (lambda s: s.mail.move("AAMkAGQ1abcdef", "Inbox//x"), "folder"),
    (lambda s: s.mail.flag("AAMkAGQ1abcdef", status="urgent"), "status"),
    (lambda s: s.mail.flag("AAMkAGQ1abcdef", due=datetime(2026, 12, 1)), "due"),
    (lambda s: s.mail.set_categories("AAMkAGQ1abcdef", ["ok", " "]), "categories"),
    (lambda s: s.mail.move_all("Archive", folder="Inbox", status="new"), "status"),
    (lambda s: s.mail.move_all("Archive", ids=["bad id!"]), "ids"),
    (lambda s: s.mail.move_all("Archive", colour="red"), "colour"),
    (lambda s: s.mail.mark_all(job="../escape"), "job"),
])
def test_bad_input_names_the_field_and_sends_nothing(
        outlook_emulator: Any, hans: Session, call: Any, field: str) -> None:
    since = last_seq(outlook_emulator)
    with pytest.raises(ConfigError) as info:
        call(hans)
    assert info.value.field == field
    assert graph_calls(outlook_emulator, since) == []


def test_an_unknown_folder_is_named_before_anything_moves(outlook_emulator: Any,
                                                          hans: Session) -> None:
    (imid,) = seed(outlook_emulator, 1)
    mid = _id(hans)
    with pytest.raises(NotFoundError) as info:
        hans.mail.move(mid, "Inbox/Nirgendwo")
    assert "Nirgendwo" in str(info.value)
    assert placement(outlook_emulator, [imid])[imid] == [folder_id(outlook_emulator, "inbox")]

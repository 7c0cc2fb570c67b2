"""Folders over the emulator through Connect: paths and well-known names in any case and any
locale, the tree with every page, nested create (idempotent), rename, move, delete, the path
cache, the async twin, and bad input that sends nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from outlook_support import graph_calls, last_seq

from m365bot.errors import ConfigError, GraphError, NotFoundError, SessionError
from m365bot.graph import GraphResponse
from m365bot.outlook.folders import FolderPlans, parse_path, well_known_name
from m365bot.sessions import Session


def _paths(calls: list[dict[str, Any]]) -> list[str]:
    return [f"{c['method']} {c['path'].split('/mailFolders', 1)[-1]}" for c in calls]


def test_well_known_names_work_in_a_german_mailbox(outlook_emulator: Any, hans: Session) -> None:
    since = last_seq(outlook_emulator)
    inbox = hans.folders.get("INBOX")
    assert (inbox.display_name, inbox.well_known_name, inbox.path) == (
        "Posteingang", "inbox", "Posteingang")
    # the first segment went to Graph's well-known name, not to a display-name search
    assert _paths(graph_calls(outlook_emulator, since)) == ["GET /inbox"]
    year = hans.folders.get("inbox/vertrieb/2026")
    assert (year.display_name, year.path) == ("2026", "Posteingang/Vertrieb/2026")
    assert hans.folders.get("Posteingang/Vertrieb").id == hans.folders.get("Inbox/Vertrieb").id
    assert hans.folders.get("Sent Items").display_name == "Gesendete Elemente"
    assert hans.folders.get("deleteditems").display_name == "Gelöschte Elemente"
    assert hans.folders.get("Projekte").parent_id == hans.folders.get("msgfolderroot").id


def test_exists_and_unknown_folder_names_field_and_segment(outlook_emulator: Any,
                                                           hans: Session) -> None:
    assert hans.folders.exists("Inbox/Vertrieb")
    assert not hans.folders.exists("Inbox/Einkauf")
    assert not hans.folders.exists("Nirgendwo")
    with pytest.raises(NotFoundError) as info:
        hans.folders.get("Inbox/Vertrieb/2025")
    assert "folder: there is no folder '2025' in 'Posteingang/Vertrieb'" in str(info.value)
    assert "m365bot folder list" in info.value.advice


def test_paths_are_cached_per_session_until_a_change(outlook_emulator: Any, hans: Session) -> None:
    first = hans.folders.get("Inbox/Vertrieb/2026")
    since = last_seq(outlook_emulator)
    assert hans.folders.get("inbox/VERTRIEB/2026") == first
    assert hans.folders.exists("Inbox/Vertrieb")
    assert graph_calls(outlook_emulator, since) == []  # answered from the cache
    assert not hans.folders.exists("Inbox/Vertrieb/2025")
    assert len(graph_calls(outlook_emulator, since)) == 1  # one listing; the cache is kept
    assert hans.folders.exists("Inbox/Vertrieb/2026")
    assert len(graph_calls(outlook_emulator, since)) == 1
    hans.folders.rename("Inbox/Vertrieb", "Verkauf")
    assert not hans.folders.exists("Inbox/Vertrieb")  # the cache was dropped, Graph asked
    assert hans.folders.get("Inbox/Verkauf/2026").id == first.id


def test_a_folder_changed_by_another_bot_is_looked_up_again(
        outlook_emulator: Any, hans: Session, session_for: Any) -> None:
    from outlook_support import HANS

    remembered = hans.folders.get("Inbox/Vertrieb/2026")
    other = session_for(HANS)  # another bot on the same mailbox, with its own cache
    other.folders.delete("Inbox/Vertrieb/2026")
    remade = other.folders.create("Inbox/Vertrieb/2026")
    assert remade.id != remembered.id
    # our cached id is stale: Graph says 404, we look the path up again and act on the new one
    renamed = hans.folders.rename("Inbox/Vertrieb/2026", "2026-neu")
    assert renamed.id == remade.id and renamed.path == "Posteingang/Vertrieb/2026-neu"
    assert hans.folders.get("Inbox/Vertrieb").path == "Posteingang/Vertrieb"  # remembered
    other.folders.delete("Inbox/Vertrieb")
    made = hans.folders.create("Inbox/Vertrieb/2027")  # under the stale id: 404, then afresh
    assert made.path == "Posteingang/Vertrieb/2027"
    assert other.folders.exists("Inbox/Vertrieb/2027")


def test_nested_create_makes_missing_levels_once(outlook_emulator: Any, hans: Session) -> None:
    made = hans.folders.create("Inbox/Sales/2026/Q1")
    assert made.path == "Posteingang/Sales/2026/Q1" and made.display_name == "Q1"
    assert outlook_emulator.control.count("mailFolders.create") == 3
    again = hans.folders.create("inbox/sales/2026/q1")
    assert again.id == made.id
    assert outlook_emulator.control.count("mailFolders.create") == 3  # nothing new
    # another session (no cache) finds the same folders, and a sibling is added beside them
    other = hans.folders.plans.__class__(hans.mailbox)  # a fresh cache on the same mailbox
    hans.folders.plans = other
    assert hans.folders.create("Inbox/Sales/2027").path == "Posteingang/Sales/2027"
    assert outlook_emulator.control.count("mailFolders.create") == 4
    top = hans.folders.create("Kunden/A")  # a new top-level folder
    assert top.path == "Kunden/A"
    assert hans.folders.get("Kunden").parent_id == hans.folders.get("msgfolderroot").id


def test_create_joins_a_folder_made_meanwhile() -> None:
    # another bot creates "Race" between our look-up and our create: Graph answers 409
    # ErrorFolderExists, and create uses the existing folder instead of failing
    plan = FolderPlans("hans@contoso.onmicrosoft.com").create(("Inbox", "Race"), "folder")
    assert next(plan).path.endswith("/mailFolders/inbox")
    call = plan.send(GraphResponse(200, {}, {"id": "INBOX1", "displayName": "Inbox"}))
    assert call.params and call.params["$filter"] == "displayName eq 'Race'"
    call = plan.send(GraphResponse(200, {}, {"value": []}))
    assert (call.method, call.json) == ("POST", {"displayName": "Race"})
    call = plan.throw(GraphError("exists", code="ErrorFolderExists", status=409))
    assert call.method == "GET"
    with pytest.raises(StopIteration) as done:
        plan.send(GraphResponse(200, {}, {"value": [{"id": "RACE1", "displayName": "race"}]}))
    assert done.value.value.id == "RACE1"


def test_rename_move_and_delete(outlook_emulator: Any, hans: Session) -> None:
    hans.folders.create("Inbox/Alt/Teil")
    renamed = hans.folders.rename("Inbox/Alt", "Neu")
    assert (renamed.display_name, renamed.path) == ("Neu", "Posteingang/Neu")
    moved = hans.folders.move("Inbox/Neu", "Archive")
    assert moved.path == "Archiv/Neu"
    assert hans.folders.exists("archive/neu/teil")
    assert not hans.folders.exists("Inbox/Neu")
    hans.folders.delete("Archive/Neu")
    assert not hans.folders.exists("Archive/Neu")
    assert outlook_emulator.control.count("mailFolders.delete", 204) == 1


@pytest.mark.parametrize(("call", "field", "words"), [
    (lambda f: f.get(""), "folder", "empty"),
    (lambda f: f.get("Inbox//Sales"), "folder", "segment 2"),
    (lambda f: f.get("/Inbox"), "folder", "segment 1"),
    (lambda f: f.exists("Inbox/../Drafts"), "folder", "relative"),
    (lambda f: f.create(["Inbox", "."]), "folder", "relative"),
    (lambda f: f.create("Inbox/a\x00b"), "folder", "control character"),
    (lambda f: f.rename("Inbox/Vertrieb", "a/b"), "new_name", "cannot be a folder name"),
    (lambda f: f.rename("Inbox/Vertrieb", "  "), "new_name", "empty"),
    (lambda f: f.rename("inbox", "Eingang"), "folder", "well-known"),
    (lambda f: f.delete("Sent Items"), "folder", "well-known"),
    (lambda f: f.move("Inbox/Vertrieb", "inbox/vertrieb/2026"), "destination", "into itself"),
    (lambda f: f.move("Inbox/Vertrieb", "Inbox//x"), "destination", "segment 2"),
])
def test_bad_input_names_the_field_and_sends_nothing(outlook_emulator: Any, hans: Session,
                                                     call: Any,
                                                     field: str, words: str) -> None:
    since = last_seq(outlook_emulator)
    with pytest.raises(ConfigError, match=words) as info:
        call(hans.folders)
    assert info.value.field == field and info.value.advice
    assert f"Fix: {info.value.advice}" in str(info.value)
    assert graph_calls(outlook_emulator, since) == []


def test_tree_follows_every_page_and_hidden_folders(outlook_emulator: Any, hans: Session) -> None:
    for n in range(12):
        hans.folders.create(f"Inbox/Viele/F{n:02d}")
    since = last_seq(outlook_emulator)
    nodes = hans.folders.tree("Inbox/Viele", page_size=5)
    assert sorted(n.folder.display_name or "" for n in nodes) == [f"F{n:02d}" for n in range(12)]
    assert nodes[0].folder.path == "Posteingang/Viele/F00"
    lists = [c for c in graph_calls(outlook_emulator, since) if c["op"] == "mailFolders.list"]
    assert len(lists) == 3  # 5 + 5 + 2: every page
    everything = [f.path for n in hans.folders.tree() for f in n.walk()]
    assert "Posteingang/Vertrieb/2026" in everything and "Projekte" in everything
    assert "Clutter" not in everything
    hidden = [f.path for n in hans.folders.tree(include_hidden=True) for f in n.walk()]
    assert "Clutter" in hidden


def test_async_twin_shares_the_cache(outlook_emulator: Any, hans: Session) -> None:
    async def work() -> tuple[Any, bool]:
        made = await hans.aio.folders.create("Inbox/Async/Eins")
        return made, await hans.aio.folders.exists("inbox/async")

    made, exists = asyncio.run(work())
    assert made.path == "Posteingang/Async/Eins" and exists
    since = last_seq(outlook_emulator)
    assert hans.folders.get("Inbox/Async/Eins").id == made.id
    assert graph_calls(outlook_emulator,
                       since) == []  # the sync side used what the async side found
    nodes = asyncio.run(hans.aio.folders.tree("Inbox/Async"))
    assert [n.folder.display_name for n in nodes] == ["Eins"]


def test_resources_are_per_session_and_end_with_it(hans: Session, ops: Session) -> None:
    assert hans.folders is hans.folders and hans.folders is not ops.folders
    assert ops.folders.get("Inbox").display_name == "Inbox"
    hans.close()
    with pytest.raises(SessionError, match="disconnected"):
        hans.folders.get("Inbox")


def test_path_parsing_without_a_session() -> None:
    assert parse_path(" Inbox / Sales ") == ("Inbox", "Sales")
    assert parse_path(["Inbox", "A/B"]) == ("Inbox", "A/B")
    assert well_known_name("Junk Email") == "junkemail"
    assert well_known_name("Sales") is None
    with pytest.raises(ConfigError) as info:
        parse_path("Inbox//x", field="--folder")
    assert info.value.field == "--folder" and "'Inbox//x'" in str(info.value)

"""mailFolders and message delta over real HTTPS: well-known names, nested childFolders,
create/rename/delete, hidden folders, counts; delta paging with $skiptoken, deltaLink
rounds with changes and @removed items."""

from __future__ import annotations

from typing import Any

from graphx_support import GX
from mail_support import ALICE, BOB, err, unique

FOLDERS = f"/users/{ALICE}/mailFolders"


def test_top_level_and_hidden_folders(gx: GX) -> None:
    r = gx.get(FOLDERS, params={"$top": "50"})
    assert r.status_code == 200
    names = {f["displayName"] for f in r.json()["value"]}
    assert {"Inbox", "Drafts", "Sent Items", "Deleted Items", "Archive", "Junk Email"} <= names
    assert "Clutter" not in names and all(not f["isHidden"] for f in r.json()["value"])
    hidden = gx.get(FOLDERS, params={"includeHiddenFolders": "true", "$top": "50"})
    assert "Clutter" in {f["displayName"] for f in hidden.json()["value"]}
    page = gx.get(FOLDERS, params={"includeHiddenFolders": "true"})
    assert len(page.json()["value"]) == 10 and "$skip=10" in page.json()["@odata.nextLink"]
    rest = gx.get(page.json()["@odata.nextLink"])
    assert rest.status_code == 200 and len(rest.json()["value"]) >= 1


def test_well_known_names_and_counts(gx: GX) -> None:
    inbox = gx.get(f"{FOLDERS}/Inbox")
    assert inbox.status_code == 200
    body = inbox.json()
    assert body["displayName"] == "Inbox" and body["id"].startswith("AAMk")
    assert body["totalItemCount"] >= 3 and body["unreadItemCount"] >= 1
    by_id = gx.get(f"{FOLDERS}/{body['id']}")
    assert by_id.json()["displayName"] == "Inbox"
    root = gx.get(f"{FOLDERS}/msgfolderroot").json()
    assert body["parentFolderId"] == root["id"]


def test_nested_child_folders_from_the_scenario(gx: GX) -> None:
    kids = gx.get(f"{FOLDERS}/inbox/childFolders").json()["value"]
    projects = next(f for f in kids if f["displayName"] == "Projects")
    assert projects["childFolderCount"] == 1
    grand = gx.get(f"{FOLDERS}/{projects['id']}/childFolders").json()["value"]
    assert [f["displayName"] for f in grand] == ["Archive2026"]
    one = gx.get(f"{FOLDERS}/inbox/childFolders/{projects['id']}")
    assert one.status_code == 200 and one.json()["id"] == projects["id"]
    filed = gx.post(f"{FOLDERS}/inbox/childFolders/{projects['id']}/messages",
                    json={"subject": "in projects"})
    assert filed.status_code == 201 and filed.json()["parentFolderId"] == projects["id"]
    listed = gx.get(f"{FOLDERS}/inbox/childFolders/{projects['id']}/messages")
    assert [m["subject"] for m in listed.json()["value"]] == ["in projects"]
    wrong_parent = gx.get(f"{FOLDERS}/drafts/childFolders/{projects['id']}/messages")
    assert wrong_parent.status_code == 404 and err(wrong_parent) == "ErrorItemNotFound"
    gx.delete(f"/users/{ALICE}/messages/{filed.json()['id']}")


def test_create_rename_fill_and_delete(gx: GX) -> None:
    name = unique("Invoices")
    r = gx.post(f"{FOLDERS}/inbox/childFolders", json={"displayName": name})
    assert r.status_code == 201, r.text
    folder = r.json()
    inbox = gx.get(f"{FOLDERS}/inbox").json()
    assert folder["parentFolderId"] == inbox["id"] and folder["totalItemCount"] == 0
    dup = gx.post(f"{FOLDERS}/inbox/childFolders", json={"displayName": name.upper()})
    assert dup.status_code == 409 and err(dup) == "ErrorFolderExists"

    renamed = gx.patch(f"{FOLDERS}/{folder['id']}", json={"displayName": name + " 2026"})
    assert renamed.status_code == 200 and renamed.json()["displayName"] == name + " 2026"

    msg = gx.post(f"{FOLDERS}/{folder['id']}/messages", json={"subject": "filed"})
    assert msg.status_code == 201 and msg.json()["parentFolderId"] == folder["id"]
    counted = gx.get(f"{FOLDERS}/{folder['id']}").json()
    assert counted["totalItemCount"] == 1
    listed = gx.get(f"{FOLDERS}/{folder['id']}/messages").json()["value"]
    assert [m["subject"] for m in listed] == ["filed"]
    # The message is not inside the Inbox itself.
    wrong = gx.get(f"{FOLDERS}/inbox/messages/{msg.json()['id']}")
    assert wrong.status_code == 404 and err(wrong) == "ErrorItemNotFound"

    assert gx.delete(f"{FOLDERS}/{folder['id']}").status_code == 204
    gone = gx.get(f"{FOLDERS}/{folder['id']}")
    assert gone.status_code == 404 and err(gone) == "ErrorItemNotFound"
    assert gx.get(f"/users/{ALICE}/messages/{msg.json()['id']}").status_code == 404


def test_folder_errors(gx: GX) -> None:
    r = gx.delete(f"{FOLDERS}/inbox")
    assert r.status_code == 400 and err(r) == "ErrorDeleteDistinguishedFolder"
    for body in ({}, {"displayName": ""}, {"displayName": 5}, {"colour": "red"}, [1]):
        r = gx.post(FOLDERS, json=body)
        assert r.status_code == 400, body
    r = gx.get(FOLDERS, params={"$filter": "totalItemCount gt 1"})
    assert r.status_code == 400 and err(r) == "BadRequest"
    r = gx.get(FOLDERS, params={"$filter": "displayName eq 'Inbox'"})
    assert [f["displayName"] for f in r.json()["value"]] == ["Inbox"]


def _drain(gx: GX, url: str, **kw: Any) -> tuple[list[list[dict[str, Any]]], str]:
    pages: list[list[dict[str, Any]]] = []
    while True:
        r = gx.get(url, **kw)
        assert r.status_code == 200, r.text
        pages.append(r.json()["value"])
        if "@odata.deltaLink" in r.json():
            return pages, r.json()["@odata.deltaLink"]
        url = r.json()["@odata.nextLink"]
        assert "$skiptoken=" in url
        kw.pop("params", None)


def test_delta_rounds(gx: GX, emulator: Any) -> None:
    from m365bot.emulator.graph.seed import seed_message

    name = unique("Sync")
    folder = gx.post(FOLDERS, json={"displayName": name}).json()
    box = emulator.state.mailbox(ALICE)
    with emulator.state.lock:
        for i in range(5):
            seed_message(emulator.state, box, {"folder": name, "subject": f"sync {i}",
                                               "from": BOB, "to": [ALICE]})
    url = f"{FOLDERS}/{folder['id']}/messages/delta"
    prefer = {"Prefer": "odata.maxpagesize=2"}
    first = gx.get(url, headers=prefer, params={"$select": "subject,isRead"})
    assert first.headers["preference-applied"] == "odata.maxpagesize=2"
    pages, delta_link = _drain(gx, url, headers=prefer, params={"$select": "subject,isRead"})
    assert [len(p) for p in pages] == [2, 2, 1]
    items = [m for p in pages for m in p]
    assert sorted(m["subject"] for m in items) == [f"sync {i}" for i in range(5)]
    assert set(items[0]) == {"@odata.etag", "id", "subject", "isRead"}
    assert "$deltatoken=" in delta_link

    by_subject = {m["subject"]: m["id"] for m in items}
    gx.patch(f"/users/{ALICE}/messages/{by_subject['sync 0']}", json={"isRead": True})
    gx.delete(f"/users/{ALICE}/messages/{by_subject['sync 1']}")
    gx.post(f"/users/{ALICE}/messages/{by_subject['sync 2']}/move",
            json={"destinationId": "archive"})
    gx.post(f"{FOLDERS}/{folder['id']}/messages", json={"subject": "sync new"})

    pages, next_delta = _drain(gx, delta_link, headers=prefer)
    changes = [m for p in pages for m in p]
    removed = {m["id"] for m in changes if "@removed" in m}
    assert removed == {by_subject["sync 1"], by_subject["sync 2"]}
    assert all(m["@removed"] == {"reason": "deleted"} for m in changes if "@removed" in m)
    current = {m["subject"]: m for m in changes if "@removed" not in m}
    assert set(current) == {"sync 0", "sync new"}
    assert current["sync 0"]["isRead"] is True
    assert set(current["sync new"]) == {"@odata.etag", "id", "subject", "isRead"}

    quiet, _ = _drain(gx, next_delta)
    assert quiet == [[]]


def _token(data: dict[str, Any]) -> str:
    import base64
    import json

    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_delta_errors(gx: GX) -> None:
    url = f"{FOLDERS}/inbox/messages/delta"
    for params in ({"$search": '"x"'}, {"$filter": "isRead eq true"},
                   {"$orderby": "subject"}, {"$deltatoken": "garbage!!"},
                   {"$skiptoken": "eyJub3BlIjoxfQ"}, {"changeType": "exploded"},
                   {"$skiptoken": _token({"since": 1, "opts": "x"})},
                   {"$deltatoken": _token({"since": 1, "opts": {"size": 0}})},
                   {"$deltatoken": _token({"since": 1, "opts": {"select": [1]}})},
                   {"$skiptoken": _token({"since": 1, "offset": "9"})}):
        r = gx.get(url, params=params)
        assert r.status_code == 400, (params, r.text)
        if any(k in params for k in ("$skiptoken", "$deltatoken")):
            assert err(r) == "ErrorInvalidSyncStateData"
    ok = gx.get(url, params={"$filter": "receivedDateTime ge 2026-11-24T00:00:00Z",
                             "changeType": "created"})
    assert ok.status_code == 200
    assert {m["subject"] for m in ok.json()["value"]} >= {"Invoice 1001", "Lunch on Friday?"}

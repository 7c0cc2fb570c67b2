"""mailFolder move (learn.microsoft.com/graph/api/mailfolder-move): ``POST
/users/{id}/mailFolders/{id}/move {"destinationId": "<id or well-known name>"}`` answers 200 with
the moved mailFolder, which keeps its id and its contents and has the destination as parent."""

from __future__ import annotations

from graphx_support import GX
from mail_support import ALICE, err, unique

FOLDERS = f"/users/{ALICE}/mailFolders"


def test_move_a_folder_with_its_contents(gx: GX) -> None:
    name = unique("mv")
    made = gx.post(f"{FOLDERS}/inbox/childFolders", json={"displayName": name}).json()
    kid = gx.post(f"{FOLDERS}/{made['id']}/childFolders", json={"displayName": "kid"}).json()
    gx.post(f"{FOLDERS}/{made['id']}/messages", json={"subject": name})
    moved = gx.post(f"{FOLDERS}/{made['id']}/move", json={"destinationId": "archive"})
    assert moved.status_code == 200
    body = moved.json()
    archive = gx.get(f"{FOLDERS}/archive").json()
    assert (body["id"], body["parentFolderId"], body["displayName"]) == (
        made["id"], archive["id"], name)
    assert body["totalItemCount"] == 1 and body["childFolderCount"] == 1
    under = gx.get(f"{FOLDERS}/archive/childFolders", params={"$top": "100"}).json()["value"]
    assert name in {f["displayName"] for f in under}
    inbox_kids = gx.get(f"{FOLDERS}/inbox/childFolders", params={"$top": "100"}).json()
    assert name not in {f["displayName"] for f in inbox_kids["value"]}
    assert gx.get(f"{FOLDERS}/{kid['id']}").json()["parentFolderId"] == made["id"]
    gx.delete(f"{FOLDERS}/{made['id']}")


def test_move_refusals(gx: GX) -> None:
    name = unique("mv")
    made = gx.post(f"{FOLDERS}/inbox/childFolders", json={"displayName": name}).json()
    kid = gx.post(f"{FOLDERS}/{made['id']}/childFolders", json={"displayName": "k"}).json()
    into_self = gx.post(f"{FOLDERS}/{made['id']}/move", json={"destinationId": kid["id"]})
    assert into_self.status_code == 400 and err(into_self) == "ErrorMoveCopyFailed"
    inbox = gx.post(f"{FOLDERS}/inbox/move", json={"destinationId": "archive"})
    assert inbox.status_code == 400 and err(inbox) == "ErrorMoveDistinguishedFolder"
    missing = gx.post(f"{FOLDERS}/{made['id']}/move", json={})
    assert missing.status_code == 400 and err(missing) == "BadRequest"
    twin = gx.post(f"{FOLDERS}/archive/childFolders", json={"displayName": name}).json()
    clash = gx.post(f"{FOLDERS}/{made['id']}/move", json={"destinationId": "archive"})
    assert clash.status_code == 409 and err(clash) == "ErrorFolderExists"
    gx.delete(f"{FOLDERS}/{made['id']}")
    gx.delete(f"{FOLDERS}/{twin['id']}")


def test_scenario_folder_names_localize_well_known_folders() -> None:
    import pytest

    from m365bot.emulator.graph import store
    from m365bot.emulator.graph.seed import seed_mailbox
    from m365bot.emulator.scenario import ScenarioError
    from m365bot.emulator.state import Mailbox, State

    state = State()
    box = Mailbox(id="0b5e1c1e-0000-4000-8000-000000000001", tenant_id="t",
                  address="hans@contoso.example", display_name="Hans")
    seed_mailbox(state, box, {"folder_names": {"Inbox": "Posteingang"},
                              "folders": [{"name": "Vertrieb", "parent": "inbox"}]})
    inbox = store.well_known(box, "inbox")
    assert inbox.display_name == "Posteingang"
    assert any(f.display_name == "Vertrieb" and f.parent_id == inbox.id
               for f in box.folders.values())
    for bad in ({"posteingang": "Inbox"}, {"inbox": ""}, ["inbox"]):
        with pytest.raises(ScenarioError, match="folder_names"):
            seed_mailbox(State(), Mailbox(id="x", tenant_id="t", address="a@b.example",
                                          display_name="A"), {"folder_names": bad})

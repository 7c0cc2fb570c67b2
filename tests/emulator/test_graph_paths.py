"""URL forms a Graph client may use, over real HTTPS through proxy mode: attachments and upload
sessions of a message inside a nested child folder, ``$expand=attachments`` on a message list,
and the OData key-in-parentheses form ``users('x')/mailFolders('inbox')/messages('id')``."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator

import pytest
from graphx_support import ALICE, GX, error_code

OPS = "ops@contoso.onmicrosoft.com"
FILE = "#microsoft.graph.fileAttachment"


@pytest.fixture
def nested(gx: GX) -> Iterator[tuple[str, str]]:
    """(child folder id, id of a message inside it) under Alice's Inbox; removed afterwards."""
    r = gx.post(f"/users/{ALICE}/mailFolders/inbox/childFolders",
                json={"displayName": f"acceptance-{uuid.uuid4().hex[:8]}"})
    assert r.status_code == 201, r.text
    child = r.json()["id"]
    m = gx.post(f"/users/{ALICE}/mailFolders/{child}/messages",
                json={"subject": "nested with attachment"})
    assert m.status_code == 201, m.text
    assert m.json()["parentFolderId"] == child
    yield child, m.json()["id"]
    gx.delete(f"/users/{ALICE}/mailFolders/{child}")


def test_attachments_of_a_message_in_a_child_folder(gx: GX, nested: tuple[str, str]) -> None:
    child, mid = nested
    base = f"/users/{ALICE}/mailFolders/inbox/childFolders/{child}/messages/{mid}/attachments"
    data = b"nested invoice\n"
    r = gx.post(base, json={"@odata.type": FILE, "name": "n.txt", "contentType": "text/plain",
                            "contentBytes": base64.b64encode(data).decode()})
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    assert [a["name"] for a in gx.get(base).json()["value"]] == ["n.txt"]
    assert gx.get(f"{base}/{aid}/$value").content == data
    session = gx.post(f"{base}/createUploadSession", json={"AttachmentItem": {
        "attachmentType": "file", "name": "big.bin", "size": 4 * 1024 * 1024}})
    assert session.status_code == 201, session.text
    assert session.json()["uploadUrl"].startswith("https://outlook.office.com/api/v2.0/")
    assert gx.delete(f"{base}/{aid}").status_code == 204
    # The folder in the path must hold the message, as for the message routes themselves.
    wrong = gx.get(f"/users/{ALICE}/mailFolders/sentitems/messages/{mid}/attachments")
    assert wrong.status_code == 404 and error_code(wrong) == "ErrorItemNotFound"


def test_expand_attachments_on_a_message_list(gx: GX) -> None:
    r = gx.get(f"/users/{OPS}/mailFolders/inbox/messages",
               params={"$select": "subject,hasAttachments", "$expand": "attachments",
                       "$top": "50"})
    assert r.status_code == 200, r.text
    listed = {m["subject"]: m for m in r.json()["value"]}
    with_files = listed["Order 5001 received"]
    assert with_files["hasAttachments"] is True
    names = [a["name"] for a in with_files["attachments"]]
    assert names and all(a["contentBytes"] for a in with_files["attachments"])
    assert listed["Order 5002 received"]["attachments"] == []
    plain = gx.get(f"/users/{OPS}/mailFolders/inbox/messages", params={"$top": "50"})
    assert all("attachments" not in m for m in plain.json()["value"])
    named = gx.get(f"/users/{OPS}/mailFolders/inbox/messages",
                   params={"$select": "subject", "$expand": "attachments($select=name,size)",
                           "$top": "50"})
    assert named.status_code == 200, named.text
    order = next(m for m in named.json()["value"] if m["subject"] == "Order 5001 received")
    assert [a["name"] for a in order["attachments"]] == names
    assert all(set(a) == {"@odata.type", "id", "name", "size"} for a in order["attachments"])


@pytest.mark.parametrize(
    "expand", ["nonsense", "attachments,bogus", "attachments(($select=x)", "attachments)("])
def test_bad_expand_is_a_400_naming_it(gx: GX, expand: str) -> None:
    for path in (f"/users/{OPS}/messages", f"/users/{OPS}/mailFolders/inbox/messages"):
        r = gx.get(path, params={"$expand": expand})
        assert r.status_code == 400 and error_code(r) == "BadRequest", r.text
        assert "expand" in r.text.lower() or "bogus" in r.text or "nonsense" in r.text


def test_key_in_parentheses_form_matches_the_segment_form(gx: GX) -> None:
    segment = gx.get(f"/users/{ALICE}/mailFolders/inbox/messages", params={"$top": "3"})
    keyed = gx.get(f"/users('{ALICE}')/mailFolders('inbox')/messages", params={"$top": "3"})
    assert keyed.status_code == 200, keyed.text
    ids = [m["id"] for m in segment.json()["value"]]
    assert [m["id"] for m in keyed.json()["value"]] == ids
    one = gx.get(f"/users('{ALICE}')/messages('{ids[0]}')", params={"$select": "subject"})
    assert one.status_code == 200 and one.json()["id"] == ids[0]
    nobody = gx.get("/users('nobody@contoso.onmicrosoft.com')/messages")
    assert nobody.status_code == 404, nobody.text
    batch = gx.post("/$batch", json={"requests": [
        {"id": "1", "method": "GET", "url": f"/users('{ALICE}')/mailFolders('inbox')"}]})
    item = batch.json()["responses"][0]
    assert item["status"] == 200 and item["body"]["displayName"] == "Inbox"


def test_sdk_function_call_form_of_delta(gx: GX) -> None:
    """Generated Graph SDKs ask for ``messages/delta()``; it is the same round as ``delta``."""
    plain = gx.get(f"/users/{ALICE}/mailFolders/inbox/messages/delta")
    assert plain.status_code == 200, plain.text
    for form in ("delta()", "microsoft.graph.delta()"):
        r = gx.get(f"/users('{ALICE}')/mailFolders('inbox')/messages/{form}")
        assert r.status_code == 200, r.text
        assert {m["id"] for m in r.json()["value"]} == {m["id"] for m in plain.json()["value"]}
        assert "@odata.deltaLink" in r.json() or "@odata.nextLink" in r.json()


def test_user_by_object_id_or_any_case_upn(gx: GX) -> None:
    """``/users/{id|upn}``: the object id and the UPN in any case name the same mailbox."""
    oid = next(u["id"] for u in gx.info["users"] if u["upn"] == ALICE)
    want = [m["id"] for m in gx.get(f"/users/{ALICE}/mailFolders/inbox/messages").json()["value"]]
    for who in (oid, ALICE.upper(), f"('{oid}')"):
        path = f"/users{who}" if who.startswith("(") else f"/users/{who}"
        r = gx.get(f"{path}/mailFolders/inbox/messages")
        assert r.status_code == 200, (who, r.text)
        assert [m["id"] for m in r.json()["value"]] == want

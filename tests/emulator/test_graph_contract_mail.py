"""Contract tests for the mail calls the Outlook actions need (issue 7 item 5), each against
Microsoft's documented behaviour; the page is named in each test (learn.microsoft.com/graph/api/
…). Over real HTTPS through proxy mode, as the demo app (app-only)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from graphx_support import ALICE, BOB, GX, error_code

CAROL = "carol@fabrikam.example"
ME = f"/users/{ALICE}"

pytestmark = pytest.mark.usefixtures("mailboxes_restored")


def tag() -> str:
    return uuid.uuid4().hex[:8]


def find(gx: GX, who: str, folder: str, subject: str) -> list[dict[str, Any]]:
    r = gx.get(f"/users/{who}/mailFolders/{folder}/messages",
               params={"$filter": f"subject eq '{subject}'", "$top": "50"})
    assert r.status_code == 200, r.text
    return list(r.json()["value"])


@pytest.fixture
def received(gx: GX) -> dict[str, Any]:
    """A message Bob sent to Alice (cc an outside address), as it sits in Alice's Inbox."""
    subject = f"Contract {tag()}"
    r = gx.post(f"/users/{BOB}/sendMail", json={"message": {
        "subject": subject, "body": {"contentType": "text", "content": "Original body."},
        "toRecipients": [{"emailAddress": {"address": ALICE}}],
        "ccRecipients": [{"emailAddress": {"address": CAROL}}]}})
    assert r.status_code == 202, r.text
    (msg,) = find(gx, ALICE, "inbox", subject)
    return msg


def test_create_reply_family_makes_drafts(gx: GX, received: dict[str, Any]) -> None:
    """message-createreply, -createreplyall, -createforward: 201 and a draft (in Drafts); a
    comment goes into the body; comment and message.body together are a 400."""
    base = f"{ME}/messages/{received['id']}"
    drafts_id = gx.get(f"{ME}/mailFolders/drafts").json()["id"]
    reply = gx.post(f"{base}/createReply", json={"comment": "Thanks, noted."})
    assert reply.status_code == 201, reply.text
    d = reply.json()
    assert d["isDraft"] is True and d["parentFolderId"] == drafts_id
    assert d["subject"] == f"RE: {received['subject']}"
    assert [r["emailAddress"]["address"] for r in d["toRecipients"]] == [BOB]
    assert "Thanks, noted." in d["body"]["content"] and "Original body." in d["body"]["content"]

    all_ = gx.post(f"{base}/createReplyAll").json()
    assert {r["emailAddress"]["address"] for r in all_["toRecipients"] + all_["ccRecipients"]} \
        == {BOB, CAROL}, "reply-all names everyone but the replier"

    fwd = gx.post(f"{base}/createForward", json={
        "comment": "FYI", "toRecipients": [{"emailAddress": {"address": CAROL}}]})
    assert fwd.status_code == 201, fwd.text
    assert fwd.json()["subject"] == f"FW: {received['subject']}"
    assert [r["emailAddress"]["address"] for r in fwd.json()["toRecipients"]] == [CAROL]

    both = gx.post(f"{base}/createReply", json={
        "comment": "x", "message": {"body": {"contentType": "text", "content": "y"}}})
    assert both.status_code == 400, both.text
    for draft in (d, all_, fwd.json()):
        assert gx.delete(f"{ME}/messages/{draft['id']}").status_code == 204


@pytest.mark.parametrize("action", ["reply", "replyAll", "forward"])
def test_reply_family_with_a_comment_sends(gx: GX, received: dict[str, Any], action: str
                                           ) -> None:
    """message-reply / -replyall / -forward: 202, the message is sent (saved in Sent Items and
    delivered), with the comment above the original."""
    comment = f"Comment {tag()}"
    body: dict[str, Any] = {"comment": comment}
    if action == "forward":
        body["toRecipients"] = [{"emailAddress": {"address": BOB}}]
    r = gx.post(f"{ME}/messages/{received['id']}/{action}", json=body)
    assert r.status_code == 202, r.text
    prefix = "FW: " if action == "forward" else "RE: "
    (sent,) = find(gx, ALICE, "sentitems", prefix + received["subject"])
    assert sent["isDraft"] is False and sent["body"]["content"].startswith(comment)
    (got,) = find(gx, BOB, "inbox", prefix + received["subject"])
    assert comment in got["body"]["content"]
    cc = [r["emailAddress"]["address"] for r in sent["ccRecipients"]]
    assert cc == ([CAROL] if action == "replyAll" else [])


def test_draft_send_then_second_send_fails(gx: GX) -> None:
    """message-send: 202; the draft moves to Sent Items, so its id is gone and a second send
    of it is 404 ErrorItemNotFound."""
    subject = f"Draft {tag()}"
    draft = gx.post(f"{ME}/messages", json={
        "subject": subject, "toRecipients": [{"emailAddress": {"address": BOB}}]}).json()
    first = gx.post(f"{ME}/messages/{draft['id']}/send")
    assert first.status_code == 202, first.text
    assert [m["isDraft"] for m in find(gx, ALICE, "sentitems", subject)] == [False]
    assert find(gx, ALICE, "drafts", subject) == []
    assert len(find(gx, BOB, "inbox", subject)) == 1
    second = gx.post(f"{ME}/messages/{draft['id']}/send")
    assert second.status_code == 404 and error_code(second) == "ErrorItemNotFound", second.text
    assert len(find(gx, BOB, "inbox", subject)) == 1, "nothing was sent twice"


def test_copy_keeps_the_original(gx: GX, received: dict[str, Any]) -> None:
    """message-copy: 201 with the copy (new id, in the destination); the original stays."""
    r = gx.post(f"{ME}/messages/{received['id']}/copy", json={"destinationId": "archive"})
    assert r.status_code == 201, r.text
    archive_id = gx.get(f"{ME}/mailFolders/archive").json()["id"]
    copy = r.json()
    assert copy["id"] != received["id"] and copy["parentFolderId"] == archive_id
    assert copy["subject"] == received["subject"]
    assert gx.get(f"{ME}/messages/{received['id']}").status_code == 200
    assert [m["id"] for m in find(gx, ALICE, "archive", received["subject"])] == [copy["id"]]


def test_permanent_delete(gx: GX, received: dict[str, Any]) -> None:
    """message-permanentdelete: 204; the item goes to the purges folder no client can reach:
    not by id, not in /messages, not in Deleted Items or Recoverable Items Deletions."""
    mid = received["id"]
    r = gx.post(f"{ME}/mailFolders/inbox/messages/{mid}/permanentDelete")
    assert r.status_code == 204, r.text
    gone = gx.get(f"{ME}/messages/{mid}")
    assert gone.status_code == 404 and error_code(gone) == "ErrorItemNotFound"
    listed = gx.get(f"{ME}/messages", params={"$filter": f"subject eq '{received['subject']}'"})
    assert listed.json()["value"] == []
    assert find(gx, ALICE, "deleteditems", received["subject"]) == []
    assert find(gx, ALICE, "recoverableitemsdeletions", received["subject"]) == []
    again = gx.post(f"{ME}/messages/{mid}/permanentDelete")
    assert again.status_code == 404


def test_flag_and_categories_patch(gx: GX, received: dict[str, Any]) -> None:
    """message-update: flag and categories are writable; the answer and later reads show them,
    and $filter finds by them."""
    url = f"{ME}/messages/{received['id']}"
    r = gx.patch(url, json={"flag": {"flagStatus": "flagged"}, "categories": ["Invoices"]})
    assert r.status_code == 200, r.text
    assert r.json()["flag"]["flagStatus"] == "flagged" and r.json()["categories"] == ["Invoices"]
    got = gx.get(url, params={"$select": "flag,categories"}).json()
    assert got["flag"]["flagStatus"] == "flagged" and got["categories"] == ["Invoices"]
    flagged = gx.get(f"{ME}/mailFolders/inbox/messages", params={
        "$filter": "flag/flagStatus eq 'flagged'", "$top": "100"}).json()["value"]
    assert received["id"] in [m["id"] for m in flagged]
    tagged = gx.get(f"{ME}/mailFolders/inbox/messages", params={
        "$filter": "categories/any(c:c eq 'Invoices')", "$top": "100"}).json()["value"]
    assert received["id"] in [m["id"] for m in tagged]
    done = gx.patch(url, json={"flag": {"flagStatus": "complete"}, "categories": []}).json()
    assert done["flag"]["flagStatus"] == "complete" and done["categories"] == []


def test_mime_value_of_a_message(gx: GX, received: dict[str, Any]) -> None:
    """message-get, "Get MIME content": ``$value`` is the message's MIME (text/plain)."""
    r = gx.get(f"{ME}/messages/{received['id']}/$value")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    assert f"Subject: {received['subject']}" in r.text and "MIME-Version: 1.0" in r.text
    assert "Original body." in r.text


def test_item_attachment_message_in_a_message(gx: GX) -> None:
    """attachment-get, itemattachment: a message attached to a message; listed without its
    item, with it under ``$expand=microsoft.graph.itemattachment/item``; ``$value`` is MIME."""
    host = gx.post(f"{ME}/messages", json={"subject": f"Carrier {tag()}"}).json()
    base = f"{ME}/messages/{host['id']}/attachments"
    r = gx.post(base, json={
        "@odata.type": "#microsoft.graph.itemAttachment", "name": "Attached note",
        "item": {"@odata.type": "#microsoft.graph.message", "subject": "Inner note",
                 "body": {"contentType": "text", "content": "Inner body."}}})
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    (listed,) = gx.get(base).json()["value"]
    assert listed["@odata.type"] == "#microsoft.graph.itemAttachment" and "item" not in listed
    expanded = gx.get(f"{base}/{aid}", params={"$expand": "microsoft.graph.itemattachment/item"})
    assert expanded.json()["item"]["subject"] == "Inner note"
    mime = gx.get(f"{base}/{aid}/$value")
    assert mime.status_code == 200 and "Subject: Inner note" in mime.text
    assert gx.get(f"{ME}/messages/{host['id']}").json()["hasAttachments"] is True
    gx.delete(f"{ME}/messages/{host['id']}")


def test_reference_attachment_is_listed_but_not_downloadable(gx: GX, emulator: Any) -> None:
    """attachment-get: "Attempting to get the $value of a reference attachment returns HTTP
    405." It is listed and readable like any attachment."""
    from m365bot.emulator.state import Attachment

    host = gx.post(f"{ME}/messages", json={"subject": f"Link {tag()}"}).json()
    aid = "AAMkAGRef" + uuid.uuid4().hex + "AAA="
    with emulator.state.lock:
        msg = emulator.state.mailbox(ALICE).messages[host["id"]]
        msg.attachments.append(Attachment(id=aid, props={
            "@odata.type": "#microsoft.graph.referenceAttachment", "name": "Budget.xlsx",
            "contentType": None, "isInline": False, "size": 0,
            "lastModifiedDateTime": "2026-11-27T08:00:00Z"}))
    base = f"{ME}/messages/{host['id']}/attachments"
    (listed,) = gx.get(base).json()["value"]
    assert listed["@odata.type"] == "#microsoft.graph.referenceAttachment"
    assert listed["name"] == "Budget.xlsx"
    assert gx.get(f"{base}/{aid}").status_code == 200
    value = gx.get(f"{base}/{aid}/$value")
    assert value.status_code == 405, value.text
    gx.delete(f"{ME}/messages/{host['id']}")


def test_mail_folders_hidden_and_child_paging(gx: GX) -> None:
    """mailfolder-list: hidden folders only with ``includeHiddenFolders=true``;
    mailfolder-list-childfolders pages with ``$top`` and ``@odata.nextLink``."""
    def names(url: str, **params: str) -> set[str]:
        return {f["displayName"] for f in gx.get(url, params={"$top": "100", **params})
                .json()["value"]}

    hidden = gx.post(f"{ME}/mailFolders", json={"displayName": f"Hidden {tag()}",
                                                 "isHidden": True}).json()
    assert hidden["displayName"] not in names(f"{ME}/mailFolders")
    assert hidden["displayName"] in names(f"{ME}/mailFolders", includeHiddenFolders="true")
    parent = gx.post(f"{ME}/mailFolders", json={"displayName": f"Parent {tag()}"}).json()
    kids = {gx.post(f"{ME}/mailFolders/{parent['id']}/childFolders",
                    json={"displayName": f"Child {i}"}).json()["id"] for i in range(5)}
    url: str | None = f"{ME}/mailFolders/{parent['id']}/childFolders?$top=2"
    pages: list[list[str]] = []
    while url:
        page = gx.get(url).json()
        pages.append([f["id"] for f in page["value"]])
        url = page.get("@odata.nextLink")
    assert [len(p) for p in pages] == [2, 2, 1]
    assert {i for p in pages for i in p} == kids
    for folder in (hidden, parent):
        assert gx.delete(f"{ME}/mailFolders/{folder['id']}").status_code == 204


def test_well_known_names_in_a_localised_mailbox(gx: GX, emulator: Any) -> None:
    """mailfolder resource: well-known names work whatever the display name; a German
    mailbox's Inbox is "Posteingang" and is still ``inbox``."""
    box = emulator.state.mailbox(ALICE)
    english = gx.get(f"{ME}/mailFolders/inbox").json()
    with emulator.state.lock:
        box.folders[english["id"]].display_name = "Posteingang"
    try:
        german = gx.get(f"{ME}/mailFolders/inbox")
        assert german.status_code == 200
        assert german.json()["displayName"] == "Posteingang"
        assert german.json()["id"] == english["id"]
        moved = gx.post(f"{ME}/messages", json={"subject": f"Lokal {tag()}"}).json()
        r = gx.post(f"{ME}/messages/{moved['id']}/move", json={"destinationId": "Inbox"})
        assert r.status_code == 201 and r.json()["parentFolderId"] == english["id"]
        gx.delete(f"{ME}/messages/{r.json()['id']}")
    finally:
        with emulator.state.lock:
            box.folders[english["id"]].display_name = english["displayName"]


def test_delta_on_a_folder_with_token_replay_and_removed_items(gx: GX) -> None:
    """message-delta: pages chain by ``$skiptoken`` to a ``$deltatoken``; the delta link
    returns only changes, removed items as ``@removed``; a token can be replayed."""
    folder = gx.post(f"{ME}/mailFolders", json={"displayName": f"Delta {tag()}"}).json()
    base = f"{ME}/mailFolders/{folder['id']}/messages"
    ids = [gx.post(base, json={"subject": f"d{i}"}).json()["id"] for i in range(3)]
    pages, url = [], f"{base}/delta"
    headers = {"Prefer": "odata.maxpagesize=2"}
    while "$deltatoken" not in url:
        page = gx.get(url, headers=headers).json()
        pages.append(page)
        url = page.get("@odata.nextLink") or page["@odata.deltaLink"]
    assert "$skiptoken=" in pages[0]["@odata.nextLink"]
    replayed = gx.get(pages[0]["@odata.nextLink"]).json()
    assert replayed["value"] == pages[1]["value"], "a skip token is replayable"
    assert {m["id"] for p in pages for m in p["value"]} == set(ids)
    delta_link = url

    gx.delete(f"{base}/{ids[0]}")
    gx.post(f"{base}/{ids[1]}/move", json={"destinationId": "archive"})
    new = gx.post(base, json={"subject": "d3"}).json()["id"]

    def round_of_changes() -> tuple[list[dict[str, Any]], str]:
        items, link = [], delta_link
        while True:
            page = gx.get(link).json()
            items += page["value"]
            if "@odata.deltaLink" in page:
                return items, page["@odata.deltaLink"]
            link = page["@odata.nextLink"]

    changes, next_round = round_of_changes()
    removed = {m["id"] for m in changes if "@removed" in m}
    assert removed == {ids[0], ids[1]}
    assert all(m["@removed"] == {"reason": "deleted"} for m in changes if "@removed" in m)
    assert [m["id"] for m in changes if "@removed" not in m] == [new]
    assert round_of_changes()[0] == changes, "a delta token is replayable"
    assert gx.get(next_round).json()["value"] == [], "nothing changed since"
    gx.delete(f"{ME}/mailFolders/{folder['id']}")


"""Graph mail endpoints over real HTTPS through proxy mode: list/get/$value, drafts, PATCH,
DELETE, send, sendMail (JSON and MIME), the reply family, move/copy, mail flow."""

from __future__ import annotations

import base64
import email
import json
from email import policy
from email.message import EmailMessage
from typing import Any

from graphx_support import GX
from mail_support import ALICE, BOB, OPS, err, find_subject, unique

ODATA = ("application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
         "charset=utf-8")


def _to(*addresses: str) -> list[dict[str, Any]]:
    return [{"emailAddress": {"address": a}} for a in addresses]


def test_list_inbox_has_realistic_messages_and_headers(gx: GX) -> None:
    r = gx.get(f"/users/{ALICE}/mailFolders/inbox/messages",
               headers={"client-request-id": "my-correlation-42"})
    assert r.status_code == 200
    assert r.headers["content-type"] == ODATA and r.headers["odata-version"] == "4.0"
    assert r.headers["client-request-id"] == "my-correlation-42" and r.headers["request-id"]
    assert "ServerInfo" in json.loads(r.headers["x-ms-ags-diagnostic"])
    assert r.headers["strict-transport-security"].startswith("max-age=")
    body = r.json()
    assert body["@odata.context"].startswith("https://graph.microsoft.com/v1.0/$metadata#")
    subjects = [m["subject"] for m in body["value"]]
    assert {"Welcome to Contoso", "Invoice 1001", "Lunch on Friday?"} <= set(subjects)
    received = [m["receivedDateTime"] for m in body["value"]]
    assert received == sorted(received, reverse=True)  # newest first, like Outlook
    invoice = next(m for m in body["value"] if m["subject"] == "Invoice 1001")
    assert invoice["importance"] == "high" and invoice["hasAttachments"] is True
    assert invoice["body"]["contentType"] == "text"
    assert invoice["@odata.etag"] == f'W/"{invoice["changeKey"]}"'
    assert invoice["id"].startswith("AAMk") and len(invoice["id"]) >= 100
    for key in ("internetMessageId", "conversationId", "bodyPreview", "parentFolderId",
                "from", "toRecipients", "isRead", "flag", "categories"):
        assert key in invoice
    assert invoice["from"]["emailAddress"]["address"] == "billing@fabrikam.example"
    assert invoice["categories"] == ["Finance"]


def test_get_select_and_mime_value(gx: GX) -> None:
    (invoice,) = find_subject(gx, ALICE, "Invoice 1001")
    r = gx.get(f"/users/{ALICE}/messages/{invoice['id']}", params={"$select": "subject,from"})
    assert r.status_code == 200
    assert set(r.json()) == {"@odata.context", "@odata.etag", "id", "subject", "from"}
    raw = gx.get(f"/users/{ALICE}/messages/{invoice['id']}/$value")
    assert raw.status_code == 200
    parsed = email.message_from_bytes(raw.content, policy=policy.default)
    assert parsed["Subject"] == "Invoice 1001"
    assert "billing@fabrikam.example" in parsed["From"]
    names = [p.get_filename() for p in parsed.iter_attachments()]
    assert names == ["invoice-1001.txt"]


def test_draft_lifecycle_and_send(gx: GX) -> None:
    subject = unique("draft")
    r = gx.post(f"/users/{ALICE}/messages", json={
        "subject": subject, "body": {"contentType": "HTML", "content": "<p>Hello <b>Bob</b></p>"},
        "toRecipients": _to(BOB), "importance": "Low"})
    assert r.status_code == 201, r.text
    draft = r.json()
    assert draft["isDraft"] is True and draft["importance"] == "low"
    assert draft["body"]["contentType"] == "html" and draft["bodyPreview"] == "Hello Bob"
    drafts = gx.get(f"/users/{ALICE}/mailFolders/drafts")
    assert draft["parentFolderId"] == drafts.json()["id"]

    p = gx.patch(f"/users/{ALICE}/messages/{draft['id']}",
                 json={"subject": subject + " v2", "categories": ["Blue"]})
    assert p.status_code == 200 and p.json()["subject"] == subject + " v2"
    assert p.json()["changeKey"] != draft["changeKey"]

    s = gx.post(f"/users/{ALICE}/messages/{draft['id']}/send")
    assert s.status_code == 202 and s.content == b""
    gone = gx.get(f"/users/{ALICE}/messages/{draft['id']}")
    assert gone.status_code == 404 and err(gone) == "ErrorItemNotFound"
    (got,) = find_subject(gx, BOB, subject + " v2")
    assert got["isRead"] is False and got["isDraft"] is False
    assert got["from"]["emailAddress"]["address"] == ALICE
    assert len(find_subject(gx, ALICE, subject + " v2", "sentitems")) == 1


def test_send_mail_delivers_inside_and_logs_outside(gx: GX, emulator: Any) -> None:
    subject = unique("flow")
    before = len(emulator.control.outbound())
    r = gx.post(f"/users/{ALICE}/sendMail", json={
        "Message": {"subject": subject, "body": {"contentType": "Text", "content": "x"},
                    "toRecipients": _to(BOB, "partner@northwind.example"),
                    "ccRecipients": _to(OPS)},
        "SaveToSentItems": "false"})
    assert r.status_code == 202, r.text
    assert len(find_subject(gx, BOB, subject)) == 1
    assert len(find_subject(gx, OPS, subject)) == 1  # shared mailboxes receive mail too
    assert find_subject(gx, ALICE, subject, "sentitems") == []  # saveToSentItems false
    outbound = emulator.control.outbound()[before:]
    assert [o["to"] for o in outbound] == [["partner@northwind.example"]]
    assert outbound[0]["subject"] == subject and outbound[0]["from"] == ALICE


def test_send_mail_to_another_cloud_goes_outbound(gx: GX, emulator: Any) -> None:
    subject = unique("gov")
    gov_alice = "alice@fabrikamgov.onmicrosoft.us"
    r = gx.post(f"/users/{ALICE}/sendMail", json={"message": {
        "subject": subject, "toRecipients": _to(gov_alice)}})
    assert r.status_code == 202
    gov_box = emulator.state.mailbox(gov_alice)
    assert not [m for m in gov_box.messages.values() if m.props.get("subject") == subject]
    assert emulator.control.outbound()[-1]["to"] == [gov_alice]
    assert len(find_subject(gx, ALICE, subject, "sentitems")) == 1  # default: saved


def test_send_mail_mime(gx: GX) -> None:
    subject = unique("mime")
    em = EmailMessage()
    em["From"] = ALICE
    em["To"] = BOB
    em["Subject"] = subject
    em.set_content("Report attached.")
    em.add_attachment(b"a,b\n1,2\n", maintype="text", subtype="csv", filename="r.csv")
    r = gx.post(f"/users/{ALICE}/sendMail", content=base64.b64encode(em.as_bytes()),
                headers={"Content-Type": "text/plain"})
    assert r.status_code == 202, r.text
    (got,) = find_subject(gx, BOB, subject)
    assert got["hasAttachments"] is True
    atts = gx.get(f"/users/{BOB}/messages/{got['id']}/attachments").json()["value"]
    assert [a["name"] for a in atts] == ["r.csv"]
    assert base64.b64decode(atts[0]["contentBytes"]) == b"a,b\n1,2\n"
    bad = gx.post(f"/users/{ALICE}/sendMail", content=b"this is not base64!!",
                  headers={"Content-Type": "text/plain"})
    assert bad.status_code == 400 and err(bad) == "ErrorMimeContentInvalidBase64String"
    assert bad.json()["error"]["message"] == "Invalid base64 string for MIME content."


def test_reply_family(gx: GX) -> None:
    subject = unique("thread")
    gx.post(f"/users/{BOB}/sendMail", json={"message": {
        "subject": subject, "body": {"contentType": "text", "content": "Original text"},
        "toRecipients": _to(ALICE), "ccRecipients": _to(OPS)}})
    (original,) = find_subject(gx, ALICE, subject)
    base = f"/users/{ALICE}/messages/{original['id']}"

    r = gx.post(base + "/createReply", json={"Comment": "Thanks!"})
    assert r.status_code == 201, r.text
    reply = r.json()
    assert reply["subject"] == f"RE: {subject}" and reply["isDraft"] is True
    assert [x["emailAddress"]["address"] for x in reply["toRecipients"]] == [BOB]
    assert "Thanks!" in reply["body"]["content"] and "Original text" in reply["body"]["content"]
    assert reply["conversationId"] == original["conversationId"]

    r = gx.post(base + "/createReplyAll", json={})
    assert r.status_code == 201
    assert [x["emailAddress"]["address"] for x in r.json()["ccRecipients"]] == [OPS]

    r = gx.post(base + "/createForward", json={"toRecipients": _to("x@example.org")})
    assert r.status_code == 201 and r.json()["subject"] == f"FW: {subject}"

    r = gx.post(base + "/reply", json={"comment": "Got it"})
    assert r.status_code == 202
    assert len(find_subject(gx, BOB, f"RE: {subject}")) == 1
    r = gx.post(base + "/forward", json={"comment": "FYI", "ToRecipients": _to(OPS)})
    assert r.status_code == 202
    assert len(find_subject(gx, OPS, f"FW: {subject}")) == 1
    r = gx.post(base + "/replyAll", json={"comment": "All agreed"})
    assert r.status_code == 202
    assert len(find_subject(gx, BOB, f"RE: {subject}")) == 2  # reply + replyAll
    assert len(find_subject(gx, OPS, f"RE: {subject}")) == 1  # cc'd on the original
    assert len(find_subject(gx, ALICE, f"RE: {subject}", "sentitems")) == 2


def test_move_copy_and_immutable_ids(gx: GX) -> None:
    subject = unique("move")
    gx.post(f"/users/{BOB}/sendMail", json={"message": {"subject": subject,
                                                        "toRecipients": _to(ALICE)}})
    (msg,) = find_subject(gx, ALICE, subject)
    moved = gx.post(f"/users/{ALICE}/messages/{msg['id']}/move",
                    json={"DestinationId": "archive"})
    assert moved.status_code == 201, moved.text
    assert moved.json()["id"] != msg["id"]
    archive = gx.get(f"/users/{ALICE}/mailFolders/archive").json()
    assert moved.json()["parentFolderId"] == archive["id"]
    old = gx.get(f"/users/{ALICE}/messages/{msg['id']}")
    assert old.status_code == 404 and err(old) == "ErrorItemNotFound"

    prefer = {"Prefer": 'IdType="ImmutableId"'}
    first = gx.get(f"/users/{ALICE}/messages/{moved.json()['id']}", headers=prefer)
    assert first.headers["preference-applied"] == "IdType=ImmutableId"
    immutable = first.json()["id"]
    again = gx.post(f"/users/{ALICE}/messages/{immutable}/move",
                    json={"destinationId": "inbox"}, headers=prefer)
    assert again.status_code == 201 and again.json()["id"] == immutable

    copied = gx.post(f"/users/{ALICE}/messages/{immutable}/copy",
                     json={"destinationId": archive["id"]})
    assert copied.status_code == 201 and copied.json()["id"] not in (immutable, msg["id"])
    assert len(find_subject(gx, ALICE, subject, "archive")) == 1
    assert len(find_subject(gx, ALICE, subject, "inbox")) == 1


def test_delete_then_gone(gx: GX) -> None:
    subject = unique("del")
    draft = gx.post(f"/users/{ALICE}/messages", json={"subject": subject}).json()
    assert gx.delete(f"/users/{ALICE}/messages/{draft['id']}").status_code == 204
    r = gx.get(f"/users/{ALICE}/messages/{draft['id']}")
    assert r.status_code == 404 and err(r) == "ErrorItemNotFound"
    listed = gx.get(f"/users/{ALICE}/messages", params={"$filter": f"subject eq '{subject}'"})
    assert listed.json()["value"] == []
    # Soft-deleted, like Exchange: recoverable from the hidden Recoverable Items folder.
    assert len(find_subject(gx, ALICE, subject, "recoverableitemsdeletions")) == 1


def test_body_content_type_preference(gx: GX) -> None:
    draft = gx.post(f"/users/{ALICE}/messages", json={
        "subject": unique("html"),
        "body": {"contentType": "html", "content": "<div>Line&nbsp;one<br>two</div>"}}).json()
    r = gx.get(f"/users/{ALICE}/messages/{draft['id']}",
               headers={"Prefer": 'outlook.body-content-type="text"'})
    assert r.json()["body"] == {"contentType": "text", "content": "Line\xa0one\ntwo"}
    assert r.headers["preference-applied"] == 'outlook.body-content-type="text"'
    gx.delete(f"/users/{ALICE}/messages/{draft['id']}")


def test_text_body_keeps_table_cells_and_rows_apart(gx: GX) -> None:
    html = ("<h2>Invoice</h2><table><tr><th>Item</th><th>Sum</th></tr>"
            "<tr><td>Total</td><td>42</td></tr></table><ul><li>one</li><li>two</li></ul>")
    draft = gx.post(f"/users/{ALICE}/messages", json={
        "subject": unique("table"), "body": {"contentType": "html", "content": html}}).json()
    r = gx.get(f"/users/{ALICE}/messages/{draft['id']}",
               headers={"Prefer": 'outlook.body-content-type="text"'})
    lines = [line.strip() for line in r.json()["body"]["content"].splitlines() if line.strip()]
    assert lines == ["Invoice", "Item Sum", "Total 42", "one", "two"]
    gx.delete(f"/users/{ALICE}/messages/{draft['id']}")


def test_delegated_me_and_user_object(alice_delegated: GX) -> None:
    me = alice_delegated.get("/me")
    assert me.status_code == 200
    assert me.json()["userPrincipalName"] == ALICE and me.json()["displayName"] == "Alice Anders"
    r = alice_delegated.get("/me/mailFolders/inbox/messages", params={"$top": "1"})
    assert r.status_code == 200 and len(r.json()["value"]) == 1
    shared = alice_delegated.get(f"/users/{OPS}/mailFolders/inbox/messages")
    assert shared.status_code == 200
    assert "Order 5001 received" in [m["subject"] for m in shared.json()["value"]]


def test_mail_requests_inside_batch(gx: GX) -> None:
    subject = unique("batch")
    r = gx.post("/$batch", json={"requests": [
        {"id": "1", "method": "GET", "url": f"/users/{ALICE}/mailFolders/inbox/messages?$top=1"},
        {"id": "2", "method": "POST", "url": f"/users/{ALICE}/sendMail", "dependsOn": ["1"],
         "headers": {"Content-Type": "application/json"},
         "body": {"message": {"subject": subject, "toRecipients": _to(BOB)}}},
        {"id": "3", "method": "GET", "url": f"/users/{ALICE}/messages/AAMk%21bad"},
    ]})
    assert r.status_code == 200, r.text
    by_id = {x["id"]: x for x in r.json()["responses"]}
    assert by_id["1"]["status"] == 200 and len(by_id["1"]["body"]["value"]) == 1
    assert by_id["2"]["status"] == 202
    assert by_id["3"]["status"] == 400
    assert by_id["3"]["body"]["error"]["code"] == "ErrorInvalidIdMalformed"
    assert len(find_subject(gx, BOB, subject)) == 1


def test_send_mail_json_with_attachment_and_expand(gx: GX) -> None:
    subject = unique("att")
    data = b"%PDF-1.4 fake"
    r = gx.post(f"/users/{ALICE}/sendMail", json={"message": {
        "subject": subject, "toRecipients": _to(BOB),
        "attachments": [{"@odata.type": "#microsoft.graph.fileAttachment", "name": "q.pdf",
                         "contentType": "application/pdf",
                         "contentBytes": base64.b64encode(data).decode()}]}})
    assert r.status_code == 202, r.text
    (got,) = find_subject(gx, BOB, subject)
    assert got["hasAttachments"] is True and got["webLink"].startswith("https://outlook.")
    full = gx.get(f"/users/{BOB}/messages/{got['id']}", params={"$expand": "attachments"})
    (att,) = full.json()["attachments"]
    assert att["name"] == "q.pdf" and base64.b64decode(att["contentBytes"]) == data


def test_text_body_as_html_preference(gx: GX) -> None:
    (welcome,) = find_subject(gx, ALICE, "Welcome to Contoso")
    r = gx.get(f"/users/{ALICE}/messages/{welcome['id']}", params={"$select": "body"},
               headers={"Prefer": 'outlook.body-content-type="html"'})
    body = r.json()["body"]
    assert body["contentType"] == "html" and "Hi Alice, welcome aboard!" in body["content"]
    assert body["content"].startswith("<html>")


def test_user_objects_need_directory_permissions(gx: GX, alice_delegated: GX) -> None:
    r = gx.get(f"/users/{ALICE}")  # the demo app has mail roles only
    assert r.status_code == 403 and err(r) == "Authorization_RequestDenied"
    me = alice_delegated.get("/me", params={"$select": "displayName,mail"})
    assert me.json()["displayName"] == "Alice Anders" and me.json()["mail"] == ALICE
    assert set(me.json()) == {"@odata.context", "displayName", "mail", "id"}


def test_send_mail_applied_then_504_is_delivered_once(gx: GX, emulator: Any) -> None:
    subject = unique("lost")
    rule = emulator.control.add_fault(op="sendMail", kind="apply_then_status", status=504,
                                      nth=1, mailbox=ALICE)
    try:
        r = gx.post(f"/users/{ALICE}/sendMail", json={"message": {
            "subject": subject, "toRecipients": _to(BOB)}})
    finally:
        emulator.control.clear_faults(rule["id"])
    assert r.status_code == 504  # the client sees a failure...
    assert len(find_subject(gx, BOB, subject)) == 1  # ...yet the mail went out, once
    mine = [s for s in emulator.control.sent() if s.get("request_id") == r.headers["request-id"]]
    assert len(mine) == 1 and mine[0]["op"] == "sendMail"


def test_answers_are_utf8_json_and_non_ascii_round_trips(gx: GX) -> None:
    subject = unique("Grüße aus Zürich ✓ 請求書")
    r = gx.post(f"/users/{ALICE}/messages", json={
        "subject": subject, "body": {"contentType": "Text", "content": "naïve café"}})
    assert r.status_code == 201, r.text
    got = gx.get(f"/users/{ALICE}/messages/{r.json()['id']}",
                 params={"$select": "subject,body"})
    assert got.headers["content-type"].endswith("charset=utf-8")
    # the text itself as UTF-8, not \u escapes: what Graph sends on the wire
    assert subject.encode("utf-8") in got.content and b"\\u" not in got.content
    assert got.json()["subject"] == subject
    assert got.json()["body"]["content"] == "naïve café"

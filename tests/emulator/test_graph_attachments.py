"""Message attachments over real HTTPS through proxy mode: file and item attachments,
$value, delete, hasAttachments, and Graph's 400/404s for bad input."""

from __future__ import annotations

import base64
from typing import Any

from graphx_support import ALICE, GX, error_code

FILE = "#microsoft.graph.fileAttachment"
ITEM = "#microsoft.graph.itemAttachment"


def _has_attachments(emulator: Any, mid: str) -> bool:
    return bool(emulator.state.mailbox(ALICE).messages[mid].props.get("hasAttachments"))


def test_file_attachment_roundtrip(gx: GX, draft: str, emulator: Any) -> None:
    base = f"/users/{ALICE}/messages/{draft}/attachments"
    data = b"Invoice 2002: 99.00 EUR\n\x00\xff binary tail"
    r = gx.post(base, json={"@odata.type": FILE, "name": "invoice.bin",
                            "contentType": "application/octet-stream",
                            "contentBytes": base64.b64encode(data).decode()})
    assert r.status_code == 201, r.text
    att = r.json()
    assert att["@odata.type"] == FILE and att["size"] == len(data) and att["id"]
    assert _has_attachments(emulator, draft)

    listed = gx.get(base).json()["value"]
    assert [a["name"] for a in listed] == ["invoice.bin"]
    got = gx.get(f"{base}/{att['id']}").json()
    assert base64.b64decode(got["contentBytes"]) == data

    raw = gx.get(f"{base}/{att['id']}/$value")
    assert raw.status_code == 200 and raw.content == data
    assert raw.headers["content-type"].startswith("application/octet-stream")

    assert gx.delete(f"{base}/{att['id']}").status_code == 204
    gone = gx.get(f"{base}/{att['id']}")
    assert gone.status_code == 404 and error_code(gone) == "ErrorItemNotFound"
    assert not _has_attachments(emulator, draft)


def test_attachments_go_out_as_stored_and_messages_compressed(gx: GX, draft: str) -> None:
    base = f"/users/{ALICE}/messages/{draft}/attachments"
    data = b"Quarterly numbers, line after line.\n" * 200  # 7 KB that gzip would shrink
    r = gx.post(base, json={"@odata.type": FILE, "name": "numbers.txt",
                            "contentType": "text/plain",
                            "contentBytes": base64.b64encode(data).decode()})
    assert r.status_code == 201, r.text
    gzip = {"Accept-Encoding": "gzip"}
    media = gx.get(f"{base}/{r.json()['id']}/$value", headers=gzip)
    assert media.status_code == 200 and media.content == data
    assert "content-encoding" not in media.headers
    assert media.num_bytes_downloaded == len(data)
    # the attachment's JSON carries the file too (contentBytes): as stored
    as_json = gx.get(f"{base}/{r.json()['id']}", headers=gzip)
    assert "content-encoding" not in as_json.headers
    assert base64.b64decode(as_json.json()["contentBytes"]) == data
    listed = gx.get(base, headers=gzip)
    assert "content-encoding" not in listed.headers
    # the message itself is JSON like any other: compressed
    message = gx.get(f"/users/{ALICE}/messages/{draft}", headers=gzip)
    assert message.headers["content-encoding"] == "gzip"
    assert message.json()["hasAttachments"] is True


def test_item_attachment_and_its_mime_value(gx: GX, draft: str) -> None:
    base = f"/users/{ALICE}/mailFolders/drafts/messages/{draft}/attachments"
    r = gx.post(base, json={
        "@odata.type": ITEM, "name": "Forwarded note",
        "item": {"@odata.type": "#microsoft.graph.message", "subject": "Original note",
                 "body": {"contentType": "text", "content": "The original body."},
                 "from": {"emailAddress": {"address": "carol@fabrikam.example"}},
                 "toRecipients": [{"emailAddress": {"address": ALICE}}]},
    })
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    plain = gx.get(f"{base}/{aid}").json()
    assert plain["@odata.type"] == ITEM and "item" not in plain
    expanded = gx.get(f"{base}/{aid}", params={"$expand": "microsoft.graph.itemattachment/item"})
    assert expanded.json()["item"]["subject"] == "Original note"
    mime = gx.get(f"{base}/{aid}/$value")
    assert mime.status_code == 200
    text = mime.text
    assert "Subject: Original note" in text and "From: carol@fabrikam.example" in text
    assert "The original body." in text


def test_select_on_attachments(gx: GX, draft: str) -> None:
    base = f"/users/{ALICE}/messages/{draft}/attachments"
    gx.post(base, json={"@odata.type": FILE, "name": "a.txt",
                        "contentBytes": base64.b64encode(b"abc").decode()})
    items = gx.get(base, params={"$select": "name,size"}).json()["value"]
    assert items and set(items[0]) == {"@odata.type", "id", "name", "size"}


def test_bad_attachment_input_is_a_clear_400(gx: GX, draft: str, emulator: Any) -> None:
    base = f"/users/{ALICE}/messages/{draft}/attachments"
    cases = [
        (b"{not json", 400),
        (b'{"name": "x.txt", "contentBytes": "YQ=="}', 400),  # no @odata.type
        (b'{"@odata.type": "#microsoft.graph.fileAttachment", "name": "x", '
         b'"contentBytes": "***"}', 400),
        (b'{"@odata.type": "#microsoft.graph.fileAttachment", "name": "x", '
         b'"contentBytes": "YQ==", "colour": "red"}', 400),
        (b'{"@odata.type": "#microsoft.graph.itemAttachment", "name": "x"}', 400),
        (b"[]", 400),
    ]
    for raw, status in cases:
        r = gx.post(base, content=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == status, (raw, r.text)
        assert r.json()["error"]["message"]
    assert emulator.state.mailbox(ALICE).messages[draft].attachments == []

    big = base64.b64encode(b"x" * (3 * 1024 * 1024)).decode()
    r = gx.post(base, json={"@odata.type": FILE, "name": "big.bin", "contentBytes": big})
    assert r.status_code == 413 and "upload session" in r.json()["error"]["message"]

    r = gx.get(f"{base}/not*an*id")
    assert r.status_code == 400 and error_code(r) == "ErrorInvalidIdMalformed"
    r = gx.get(f"/users/{ALICE}/messages/AAMkAGNoSuchMessage0000AAA=/attachments")
    assert r.status_code == 404 and error_code(r) == "ErrorItemNotFound"

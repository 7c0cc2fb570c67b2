"""Contract tests for what the at-most-once send relies on (issue 8 action 2), each against
Microsoft's documentation: a draft's ``internetMessageId`` set at creation is kept when it is
sent and can be filtered on; a draft carrying PidTagDeleteAfterSubmit leaves no copy in Sent
Items (MS-OXOMSG 3.3.5.1.3: "If this property is set to 0x01, the message is deleted after the
message is sent"; the property is PT_BOOLEAN 0x0E01, Graph id ``Boolean 0x0E01``,
learn.microsoft.com/graph/api/resources/singlevaluelegacyextendedproperty)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from graphx_support import ALICE, BOB, GX

ME = f"/users/{ALICE}"

pytestmark = pytest.mark.usefixtures("mailboxes_restored")


def _with_id(gx: GX, who: str, folder: str, marker: str) -> list[dict[str, Any]]:
    r = gx.get(f"/users/{who}/mailFolders/{folder}/messages", params={
        "$filter": f"internetMessageId eq '{marker}'", "$select": "id,isDraft,subject"})
    assert r.status_code == 200, r.text
    return list(r.json()["value"])


def _draft(gx: GX, marker: str, **extra: Any) -> dict[str, Any]:
    r = gx.post(f"{ME}/messages", json={
        "subject": "Marker", "internetMessageId": marker,
        "toRecipients": [{"emailAddress": {"address": BOB}}], **extra})
    assert r.status_code == 201, r.text
    return dict(r.json())



def test_marker_finds_the_draft_then_the_sent_copy(gx: GX) -> None:
    """message (internetMessageId: "The message ID in the format specified by RFC5322", set
    at creation); $filter on it (learn.microsoft.com/graph/query-parameters): the draft is
    found by it in Drafts, and once sent, the copy in Sent Items and at the recipient."""
    marker = f"<m365bot.{uuid.uuid4().hex}@contoso.onmicrosoft.com>"
    draft = _draft(gx, marker)
    assert draft["internetMessageId"] == marker
    assert [m["id"] for m in _with_id(gx, ALICE, "drafts", marker)] == [draft["id"]]
    assert gx.post(f"{ME}/messages/{draft['id']}/send").status_code == 202
    assert [m["isDraft"] for m in _with_id(gx, ALICE, "sentitems", marker)] == [False]
    assert _with_id(gx, ALICE, "drafts", marker) == []
    assert len(_with_id(gx, BOB, "inbox", marker)) == 1


def test_delete_after_submit_keeps_no_sent_copy(gx: GX) -> None:
    marker = f"<m365bot.{uuid.uuid4().hex}@contoso.onmicrosoft.com>"
    draft = _draft(gx, marker, singleValueExtendedProperties=[
        {"id": "Boolean 0x0E01", "value": "true"}])
    assert gx.post(f"{ME}/messages/{draft['id']}/send").status_code == 202
    assert _with_id(gx, ALICE, "sentitems", marker) == []
    assert gx.get(f"{ME}/messages/{draft['id']}").status_code == 404
    (delivered,) = _with_id(gx, BOB, "inbox", marker)
    got = gx.get(f"/users/{BOB}/messages/{delivered['id']}", params={
        "$expand": "singleValueExtendedProperties($filter=id eq 'Boolean 0x0E01')"})
    assert "Boolean 0x0E01" not in got.text, "the property is not transmitted"


def test_delete_after_submit_false_keeps_the_copy(gx: GX) -> None:
    marker = f"<m365bot.{uuid.uuid4().hex}@contoso.onmicrosoft.com>"
    draft = _draft(gx, marker, singleValueExtendedProperties=[
        {"id": "Boolean 0x0E01", "value": "false"}])
    assert gx.post(f"{ME}/messages/{draft['id']}/send").status_code == 202
    assert len(_with_id(gx, ALICE, "sentitems", marker)) == 1

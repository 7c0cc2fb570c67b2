"""Contract tests for the calendar calls the Outlook actions need (issue 7 item 5), each against
Microsoft's documented behaviour (the learn.microsoft.com/graph/api/… page is named in each
test). Over real HTTPS through proxy mode, as the demo app (app-only)."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest
from graphx_support import ALICE, GX, error_code

pytestmark = pytest.mark.usefixtures("calendars_restored")
ME = f"/users/{ALICE}"


def event(gx: GX, subject: str, day: str, hour: int) -> dict[str, Any]:
    r = gx.post(f"{ME}/events", json={
        "subject": subject,
        "start": {"dateTime": f"{day}T{hour:02d}:00:00", "timeZone": "UTC"},
        "end": {"dateTime": f"{day}T{hour:02d}:30:00", "timeZone": "UTC"}})
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_calendar_view_pages_with_next_links(gx: GX) -> None:
    """user-list-calendarview: a result over several pages carries ``@odata.nextLink``; the
    link keeps the time window, and the pages together are the whole view, in order."""
    tag = uuid.uuid4().hex[:8]
    made = [event(gx, f"view {tag} {h}", "2027-06-14", h)["id"] for h in range(8, 13)]
    url: str | None = (f"{ME}/calendarView?startDateTime=2027-06-14T00:00:00Z"
                       "&endDateTime=2027-06-15T00:00:00Z&$top=2&$orderby=start/dateTime")
    pages: list[list[str]] = []
    while url:
        r = gx.get(url)
        assert r.status_code == 200, r.text
        pages.append([e["id"] for e in r.json()["value"]
                      if e["subject"].startswith(f"view {tag}")])
        url = r.json().get("@odata.nextLink")
        if url:
            assert "startDateTime=" in url and "endDateTime=" in url
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [i for p in pages for i in p] == made


def test_event_attachments(gx: GX) -> None:
    """event-post-attachments, event-list-attachments, attachment-get, attachment-delete: a
    file attachment on an event is added (201), listed, read (``$value``) and deleted (204);
    the event's ``hasAttachments`` follows."""
    ev = event(gx, f"with file {uuid.uuid4().hex[:8]}", "2027-06-15", 9)
    assert ev["hasAttachments"] is False
    base = f"{ME}/events/{ev['id']}/attachments"
    data = b"agenda: item 1\n"
    r = gx.post(base, json={"@odata.type": "#microsoft.graph.fileAttachment",
                            "name": "agenda.txt", "contentType": "text/plain",
                            "contentBytes": base64.b64encode(data).decode()})
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    assert f"events('{ev['id']}')/attachments" in r.json()["@odata.context"]
    assert [a["name"] for a in gx.get(base).json()["value"]] == ["agenda.txt"]
    assert gx.get(f"{ME}/calendar/events/{ev['id']}/attachments/{aid}").json()["size"] == len(
        data)
    value = gx.get(f"{base}/{aid}/$value")
    assert value.status_code == 200 and value.content == data
    assert gx.get(f"{ME}/events/{ev['id']}").json()["hasAttachments"] is True
    assert gx.delete(f"{base}/{aid}").status_code == 204
    assert gx.get(base).json()["value"] == []
    assert gx.get(f"{ME}/events/{ev['id']}").json()["hasAttachments"] is False
    missing = gx.get(f"{ME}/events/AAMkAGENoSuchEvent00000AAA=/attachments")
    assert missing.status_code == 404 and error_code(missing) == "ErrorItemNotFound"


def test_create_with_transaction_id_is_made_once(gx: GX) -> None:
    """resources/event, ``transactionId``: "A custom identifier specified by a client app for
    the server to avoid redundant POST operations in case of client retries to create the same
    event." A repeated create returns the event made first and adds none; the same id used for
    a different event is refused with ``ErrorDuplicateTransactionId`` (the code and message
    Graph gives: github.com/alcionai/corso/issues/2490)."""
    tag = uuid.uuid4().hex[:8]
    body = {"subject": f"once {tag}", "transactionId": f"tx-{tag}",
            "start": {"dateTime": "2027-06-16T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2027-06-16T09:30:00", "timeZone": "UTC"}}
    first = gx.post(f"{ME}/events", json=body)
    again = gx.post(f"{ME}/events", json=body)
    assert first.status_code == 201 and again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["transactionId"] == f"tx-{tag}"
    view = gx.get(f"{ME}/calendarView?startDateTime=2027-06-16T00:00:00Z"
                  "&endDateTime=2027-06-17T00:00:00Z").json()["value"]
    assert [e["subject"] for e in view].count(f"once {tag}") == 1
    other = gx.post(f"{ME}/events", json={**body, "subject": f"other {tag}"})
    assert other.status_code == 400 and error_code(other) == "ErrorDuplicateTransactionId"
    plain = gx.post(f"{ME}/events", json={k: v for k, v in body.items() if k != "transactionId"})
    assert plain.status_code == 201 and plain.json()["id"] != first.json()["id"]

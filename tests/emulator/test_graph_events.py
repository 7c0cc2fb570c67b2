"""Calendar over real HTTPS through proxy mode: events CRUD, calendarView's required range and
recurrence expansion, Prefer: outlook.timezone, meeting responses between mailboxes."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from graphx_support import ALICE, BOB, GX, error_code

pytestmark = pytest.mark.usefixtures("calendars_restored")


def _event(gx: GX, who: str = ALICE, **extra: Any) -> dict[str, Any]:
    body = {"subject": f"test {uuid.uuid4().hex[:8]}",
            "start": {"dateTime": "2027-03-01T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2027-03-01T10:00:00", "timeZone": "UTC"}, **extra}
    r = gx.post(("/me" if who == "me" else f"/users/{who}") + "/events", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_create_get_update_delete(gx: GX) -> None:
    ev = _event(gx, body={"contentType": "HTML", "content": "<p>Agenda</p>"},
                location={"displayName": "Room 1"})
    assert ev["type"] == "singleInstance" and ev["isOrganizer"] is True
    assert ev["organizer"]["emailAddress"]["address"] == ALICE
    assert ev["body"]["contentType"] == "html" and ev["bodyPreview"] == "Agenda"
    path = f"/users/{ALICE}/events/{ev['id']}"
    got = gx.get(path)
    assert got.status_code == 200 and got.json()["subject"] == ev["subject"]
    assert got.json()["start"] == {"dateTime": "2027-03-01T09:00:00.0000000", "timeZone": "UTC"}

    r = gx.patch(path, json={"subject": "renamed", "showAs": "tentative"})
    assert r.status_code == 200 and r.json()["subject"] == "renamed"
    assert r.json()["showAs"] == "tentative"
    assert gx.get(f"/users/{ALICE}/calendar/events/{ev['id']}").json()["subject"] == "renamed"

    assert gx.delete(path).status_code == 204
    gone = gx.get(path)
    assert gone.status_code == 404 and error_code(gone) == "ErrorItemNotFound"


def test_list_filter_select_and_paging(gx: GX) -> None:
    tag = uuid.uuid4().hex[:8]
    for i in range(3):
        gx.post(f"/users/{ALICE}/events", json={
            "subject": f"paged {tag} {i}",
            "start": {"dateTime": f"2027-04-0{i + 1}T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": f"2027-04-0{i + 1}T09:30:00", "timeZone": "UTC"}})
    r = gx.get(f"/users/{ALICE}/events", params={
        "$filter": f"startswith(subject,'paged {tag}') and start/dateTime ge "
                   "'2027-04-02T00:00:00'",
        "$select": "subject,start", "$top": "1", "$orderby": "start/dateTime"})
    assert r.status_code == 200, r.text
    page = r.json()
    assert [e["subject"] for e in page["value"]] == [f"paged {tag} 1"]
    assert set(page["value"][0]) == {"@odata.etag", "id", "subject", "start"}
    nxt = gx.get(page["@odata.nextLink"]).json()
    assert [e["subject"] for e in nxt["value"]] == [f"paged {tag} 2"]
    assert "@odata.nextLink" not in nxt


def test_calendar_view_requires_its_range(gx: GX) -> None:
    view = f"/users/{ALICE}/calendarView"
    for params in ({}, {"startDateTime": "2027-01-01T00:00:00"},
                   {"endDateTime": "2027-01-01T00:00:00"}):
        r = gx.get(view, params=params)
        assert r.status_code == 400 and error_code(r) == "ErrorInvalidParameter"
        assert "StartDateTime and EndDateTime" in r.json()["error"]["message"]
    r = gx.get(view, params={"startDateTime": "yesterday", "endDateTime": "2027-01-01"})
    assert r.status_code == 400 and "startDateTime" in r.json()["error"]["message"]


def test_calendar_view_expands_recurrences(gx: GX) -> None:
    weekly = _event(gx, subject="weekly standup",
                    start={"dateTime": "2027-05-03T09:00:00", "timeZone": "UTC"},
                    end={"dateTime": "2027-05-03T09:15:00", "timeZone": "UTC"},
                    recurrence={"pattern": {"type": "weekly", "interval": 1,
                                            "daysOfWeek": ["monday", "wednesday"]},
                                "range": {"type": "numbered", "startDate": "2027-05-03",
                                          "numberOfOccurrences": 5}})
    assert weekly["type"] == "seriesMaster"
    r = gx.get(f"/users/{ALICE}/calendarView", params={
        "startDateTime": "2027-05-01T00:00:00Z", "endDateTime": "2027-06-01T00:00:00Z",
        "$filter": "subject eq 'weekly standup'", "$top": "50"})
    assert r.status_code == 200, r.text
    occ = r.json()["value"]
    assert [o["start"]["dateTime"][:10] for o in occ] == [
        "2027-05-03", "2027-05-05", "2027-05-10", "2027-05-12", "2027-05-17"]
    assert {o["type"] for o in occ} == {"occurrence"}
    assert {o["seriesMasterId"] for o in occ} == {weekly["id"]}
    one = gx.get(f"/users/{ALICE}/events/{occ[1]['id']}").json()
    assert one["type"] == "occurrence" and one["start"]["dateTime"].startswith("2027-05-05")
    inst = gx.get(f"/users/{ALICE}/events/{weekly['id']}/instances", params={
        "startDateTime": "2027-05-04T00:00:00Z", "endDateTime": "2027-05-11T00:00:00Z"})
    assert [o["id"] for o in inst.json()["value"]] == [occ[1]["id"], occ[2]["id"]]
    assert gx.get(f"/users/{ALICE}/events/{weekly['id']}/instances").status_code == 400

    daily = _event(gx, subject="daily until",
                   start={"dateTime": "2027-07-01T08:00:00", "timeZone": "UTC"},
                   end={"dateTime": "2027-07-01T08:30:00", "timeZone": "UTC"},
                   recurrence={"pattern": {"type": "daily", "interval": 2},
                               "range": {"type": "endDate", "startDate": "2027-07-01",
                                         "endDate": "2027-07-07"}})
    # The window's +02:00 offset is honoured: 10:31+02:00 is 08:31Z, after the 1st's
    # 08:00-08:30Z occurrence, so the view starts with the 3rd; no offset on the end = UTC.
    r = gx.get(f"/users/{ALICE}/calendarView", params={
        "startDateTime": "2027-07-01T10:31:00+02:00", "endDateTime": "2027-07-08T00:00:00",
        "$filter": "subject eq 'daily until'"})
    days = [o["start"]["dateTime"][:10] for o in r.json()["value"]]
    assert days == ["2027-07-03", "2027-07-05", "2027-07-07"], days
    assert {o["seriesMasterId"] for o in r.json()["value"]} == {daily["id"]}

    monthly = _event(gx, subject="monthly review",
                     start={"dateTime": "2027-01-31T15:00:00", "timeZone": "UTC"},
                     end={"dateTime": "2027-01-31T16:00:00", "timeZone": "UTC"},
                     recurrence={"pattern": {"type": "absoluteMonthly", "interval": 1,
                                             "dayOfMonth": 31},
                                 "range": {"type": "noEnd", "startDate": "2027-01-31"}})
    r = gx.get(f"/users/{ALICE}/calendar/calendarView", params={
        "startDateTime": "2027-01-01T00:00:00Z", "endDateTime": "2027-06-01T00:00:00Z",
        "$filter": "subject eq 'monthly review'"})
    assert [o["start"]["dateTime"][:10] for o in r.json()["value"]] == [
        "2027-01-31", "2027-03-31", "2027-05-31"]
    assert gx.delete(f"/users/{ALICE}/events/{monthly['id']}").status_code == 204


def test_prefer_outlook_timezone(gx: GX) -> None:
    ev = _event(gx, start={"dateTime": "2027-08-10T16:00:00", "timeZone": "UTC"},
                end={"dateTime": "2027-08-10T17:00:00", "timeZone": "UTC"})
    r = gx.get(f"/users/{ALICE}/events/{ev['id']}",
               headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'})
    assert r.json()["start"] == {"dateTime": "2027-08-10T09:00:00.0000000",
                                 "timeZone": "Pacific Standard Time"}
    assert r.headers["preference-applied"] == 'outlook.timezone="Pacific Standard Time"'
    r = gx.get(f"/users/{ALICE}/events/{ev['id']}",
               headers={"Prefer": 'outlook.timezone="Europe/Berlin"'})
    assert r.json()["end"]["dateTime"] == "2027-08-10T19:00:00.0000000"
    bad = gx.get(f"/users/{ALICE}/events/{ev['id']}",
                 headers={"Prefer": 'outlook.timezone="Mars/Olympus"'})
    assert bad.status_code == 400 and error_code(bad) == "TimeZoneNotSupportedException"
    assert "'Mars/Olympus'" in bad.json()["error"]["message"]
    # An event created in a Windows zone keeps its wall-clock time in that zone.
    ny = _event(gx, start={"dateTime": "2027-08-11T09:00:00", "timeZone": "Eastern Standard Time"},
                end={"dateTime": "2027-08-11T10:00:00", "timeZone": "Eastern Standard Time"})
    assert ny["start"]["dateTime"] == "2027-08-11T13:00:00.0000000"  # UTC by default


def test_accept_and_decline_between_mailboxes(gx: GX, emulator: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    meetings = []
    for i in range(2):
        meetings.append(_event(gx, subject=f"meet {tag} {i}", attendees=[
            {"emailAddress": {"address": BOB, "name": "Bob"}, "type": "required"}]))
    copies = gx.get(f"/users/{BOB}/events",
                    params={"$filter": f"startswith(subject,'meet {tag}')",
                            "$orderby": "subject"}).json()["value"]
    assert [c["responseStatus"]["response"] for c in copies] == ["notResponded"] * 2
    assert all(c["isOrganizer"] is False for c in copies)

    r = gx.post(f"/users/{BOB}/events/{copies[0]['id']}/accept",
                json={"comment": "see you", "sendResponse": True})
    assert r.status_code == 202, r.text
    mine = gx.get(f"/users/{BOB}/events/{copies[0]['id']}").json()
    assert mine["responseStatus"]["response"] == "accepted"
    organizer = gx.get(f"/users/{ALICE}/events/{meetings[0]['id']}").json()
    assert organizer["attendees"][0]["status"]["response"] == "accepted"
    box = emulator.state.mailbox(ALICE)
    replies = [m for m in box.messages.values()
               if m.props.get("subject") == f"Accepted: meet {tag} 0"]
    assert len(replies) == 1 and replies[0].props["body"]["content"] == "see you"
    with emulator.state.lock:  # leave Alice's Inbox as the mail tests expect it
        for m in replies:
            box.messages.pop(m.id, None)

    r = gx.post(f"/users/{BOB}/events/{copies[1]['id']}/decline",
                json={"Comment": "can't", "SendResponse": False})
    assert r.status_code == 202
    assert gx.get(f"/users/{BOB}/events/{copies[1]['id']}").status_code == 404
    organizer = gx.get(f"/users/{ALICE}/events/{meetings[1]['id']}").json()
    assert organizer["attendees"][0]["status"]["response"] == "declined"
    inbox = emulator.state.mailbox(ALICE).messages.values()
    assert not any(m.props.get("subject") == f"Declined: meet {tag} 1" for m in inbox)

    own = gx.post(f"/users/{ALICE}/events/{meetings[0]['id']}/tentativelyAccept", json={})
    assert own.status_code == 400


def test_bad_event_input_never_500(gx: GX) -> None:
    path = f"/users/{ALICE}/events"
    bad_bodies: list[Any] = [
        {"subject": "no times"},
        {"subject": "x", "start": {"dateTime": "2027-13-01T00:00:00", "timeZone": "UTC"},
         "end": {"dateTime": "2027-01-01T00:00:00", "timeZone": "UTC"}},
        {"start": {"dateTime": "2027-01-02T00:00:00", "timeZone": "UTC"},
         "end": {"dateTime": "2027-01-01T00:00:00", "timeZone": "UTC"}},
        {"start": {"dateTime": "2027-01-01T00:00:00", "timeZone": "Nowhere/Land"},
         "end": {"dateTime": "2027-01-01T01:00:00", "timeZone": "UTC"}},
        {"start": {"dateTime": "2027-01-01T00:00:00", "timeZone": "UTC"},
         "end": {"dateTime": "2027-01-01T01:00:00", "timeZone": "UTC"}, "colour": "red"},
        {"start": {"dateTime": "2027-01-01T00:00:00", "timeZone": "UTC"},
         "end": {"dateTime": "2027-01-01T01:00:00", "timeZone": "UTC"},
         "recurrence": {"pattern": {"type": "yearlyish"}, "range": {}}},
        {"start": {"dateTime": "2027-01-01T00:00:00", "timeZone": "UTC"},
         "end": {"dateTime": "2027-01-01T01:00:00", "timeZone": "UTC"}, "showAs": "sleepy"},
        ["not", "an", "object"],
    ]
    for body in bad_bodies:
        r = gx.post(path, json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["message"]
    assert gx.post(path, content=b"{oops", headers={"Content-Type": "application/json"}
                   ).status_code == 400
    for params in ({"$top": "0"}, {"$top": "abc"}, {"$top": "\u00b2"}, {"$filter": "nonsense here"},
                   {"$orderby": "colour"}):
        r = gx.get(path, params=params)
        assert r.status_code == 400, (params, r.text)
    r = gx.get(f"{path}/bad*id")
    assert r.status_code == 400 and error_code(r) == "ErrorInvalidIdMalformed"
    r = gx.post(f"{path}/AAMkAGENoSuchEvent00000AAA=/accept", json={"sendResponse": "yes"})
    assert r.status_code in (400, 404)


def test_me_calendar_with_a_delegated_token(gx: GX) -> None:
    from graphx_support import delegated_token

    scope = "openid offline_access https://graph.microsoft.com/Calendars.ReadWrite"
    token = delegated_token(gx.client, gx.info, "alice", scope)
    me = GX(client=gx.client, token=token, info=gx.info)
    ev = _event(me, who="me", subject="delegated")
    assert ev["organizer"]["emailAddress"]["address"] == ALICE
    r = me.get("/me/calendarView", params={"startDateTime": "2027-03-01T00:00:00Z",
                                           "endDateTime": "2027-03-02T00:00:00Z",
                                           "$filter": "subject eq 'delegated'"})
    assert [e["id"] for e in r.json()["value"]] == [ev["id"]]
    app_only = gx.get("/me/events")
    assert app_only.status_code == 400
    assert app_only.json()["error"]["message"] == (
        "/me request is only valid with delegated authentication flow.")


def test_seeded_meeting_is_in_both_calendars(gx: GX) -> None:
    mine = gx.get(f"/users/{ALICE}/events", params={"$filter": "subject eq 'Weekly sync'"})
    theirs = gx.get(f"/users/{BOB}/events", params={"$filter": "subject eq 'Weekly sync'"})
    assert mine.status_code == 200 and theirs.status_code == 200
    organizer, invitee = mine.json()["value"], theirs.json()["value"]
    assert len(organizer) == 1 and len(invitee) == 1
    assert organizer[0]["isOrganizer"] is True and invitee[0]["isOrganizer"] is False
    assert organizer[0]["iCalUId"] == invitee[0]["iCalUId"]
    assert organizer[0]["location"]["displayName"] == "Teams"
    assert invitee[0]["start"]["dateTime"] == "2026-11-30T09:00:00.0000000"


def test_organizer_cancels_a_meeting(gx: GX, emulator: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    ev = _event(gx, subject=f"cancel {tag}",
                attendees=[{"emailAddress": {"address": BOB}, "type": "required"}])
    copy = gx.get(f"/users/{BOB}/events",
                  params={"$filter": f"subject eq 'cancel {tag}'"}).json()["value"][0]
    refused = gx.post(f"/users/{BOB}/events/{copy['id']}/cancel", json={"comment": "no"})
    assert refused.status_code == 400
    r = gx.post(f"/users/{ALICE}/events/{ev['id']}/cancel", json={"Comment": "Moved"})
    assert r.status_code == 202, r.text
    assert gx.get(f"/users/{ALICE}/events/{ev['id']}").status_code == 404
    after = gx.get(f"/users/{BOB}/events/{copy['id']}").json()
    assert after["isCancelled"] is True and after["subject"] == f"Canceled: cancel {tag}"
    box = emulator.state.mailbox(BOB)
    notes = [m for m in box.messages.values()
             if m.props.get("subject") == f"Canceled: cancel {tag}"]
    assert len(notes) == 1 and notes[0].props["body"]["content"] == "Moved"
    with emulator.state.lock:  # leave Bob's Inbox as the mail tests expect it
        for m in notes:
            box.messages.pop(m.id, None)


def test_calendar_needs_calendar_permissions(gx: GX) -> None:
    from graphx_support import delegated_token

    token = delegated_token(gx.client, gx.info, "alice",
                            "openid offline_access https://graph.microsoft.com/Mail.ReadWrite")
    mail_only = GX(client=gx.client, token=token, info=gx.info)
    for r in (mail_only.get("/me/events"),
              mail_only.get("/me/calendarView", params={"startDateTime": "2027-01-01",
                                                        "endDateTime": "2027-01-02"}),
              mail_only.post("/me/events", json={"subject": "x"})):
        assert r.status_code == 403 and error_code(r) == "ErrorAccessDenied", r.text
    # Another user's calendar needs Calendars.*.Shared and a grant; alice has neither for bob.
    cal = delegated_token(gx.client, gx.info, "alice",
                          "openid offline_access https://graph.microsoft.com/Calendars.ReadWrite")
    other = GX(client=gx.client, token=cal, info=gx.info).get(f"/users/{BOB}/events")
    assert other.status_code == 403

"""The Outlook models: every Graph property they read exists on Graph v1.0's type, a
``$select`` subset never raises, and what they send reads back the same."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from m365bot.errors import ConfigError
from m365bot.outlook.models import (
    _EMAIL_PROPS,
    Attachment,
    Attendee,
    Email,
    EmailAddress,
    Event,
    EventTime,
    Flag,
    MailFolder,
    Recurrence,
    Result,
    format_datetime,
    html_to_text,
    parse_datetime,
)

SCHEMA = json.loads((Path(__file__).parents[2] / "src/m365bot/emulator/graph"
                     / "graph-v1-outlook-schema.json").read_text())["types"]


class Recording(Mapping[str, Any]):
    """A Graph JSON object that records every key a model looks up (present or not)."""

    def __init__(self, data: Mapping[str, Any], path: tuple[str, ...], seen: set[tuple[str, ...]]):
        self._data, self._path, self._seen = data, path, seen

    def __getitem__(self, key: str) -> Any:
        self._seen.add((*self._path, key))
        return self._wrap(self._data[key], (*self._path, key))

    def _wrap(self, value: Any, path: tuple[str, ...]) -> Any:
        if isinstance(value, Mapping):
            return Recording(value, path, self._seen)
        if isinstance(value, list):
            return [self._wrap(v, path) for v in value]
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def _property(type_name: str, key: str) -> dict[str, Any] | None:
    t: dict[str, Any] | None = SCHEMA[type_name]
    while t is not None:
        found = (t.get("properties") or {}).get(key) or (t.get("navigation") or {}).get(key)
        if found:
            return dict(found)
        t = SCHEMA.get(t["base"]) if t.get("base") else None
    return None


def _check_paths(type_name: str, seen: set[tuple[str, ...]]) -> list[str]:
    missing = []
    for path in sorted(seen):
        current = type_name
        for key in path:
            if key.startswith("@odata."):
                break
            prop = _property(current, key)
            if prop is None:
                missing.append(f"{type_name}: {'/'.join(path)} ({key} not on {current})")
                break
            current = prop["type"]
    return missing


def _who(address: str, name: str) -> dict[str, Any]:
    return {"emailAddress": {"name": name, "address": address}}


def _dtz(value: str) -> dict[str, Any]:
    return {"dateTime": value, "timeZone": "UTC"}


MESSAGE = {
    "id": "AAMkAGI2TG93AAA=", "subject": "Invoice 1001", "from": _who("b@f.example", "Billing"),
    "sender": _who("b@f.example", "Billing"), "toRecipients": [_who("a@c.com", "Alice")],
    "ccRecipients": [_who("c@c.com", "Carol")], "bccRecipients": [_who("d@c.com", "Dan")],
    "replyTo": [_who("r@f.example", "Replies")], "receivedDateTime": "2026-11-24T10:30:00Z",
    "sentDateTime": "2026-11-24T10:29:58Z",
    "body": {"contentType": "html", "content": "<p>Hello <b>Alice</b></p><script>x()</script>"},
    "bodyPreview": "Hello Alice", "isRead": False, "isDraft": False, "hasAttachments": True,
    "importance": "high", "categories": ["Finance"], "parentFolderId": "AAMkAGI2TAAA=",
    "flag": {"flagStatus": "flagged", "dueDateTime": _dtz("2026-12-01T00:00:00.0000000"),
             "startDateTime": _dtz("2026-11-25T00:00:00.0000000"),
             "completedDateTime": _dtz("2026-12-02T08:00:00.0000000")},
    "conversationId": "AAQkAGI2", "internetMessageId": "<1001@f.example>",
    "webLink": "https://outlook.office365.com/owa/?ItemID=x",
}
EVENT = {
    "id": "AAMkAGEvent=", "subject": "Weekly sync", "start": _dtz("2026-11-30T09:00:00.0000000"),
    "end": _dtz("2026-11-30T09:30:00.0000000"), "isAllDay": False,
    "location": {"displayName": "Teams"},
    "attendees": [{"type": "required", "emailAddress": {"name": "Bob", "address": "b@c.com"},
                   "status": {"response": "accepted", "time": "2026-11-20T10:00:00Z"}}],
    "organizer": _who("a@c.com", "Alice"), "isOnlineMeeting": True,
    "onlineMeeting": {"joinUrl": "https://teams.example/join/1"},
    "onlineMeetingUrl": None,
    "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"],
                               "dayOfMonth": 0, "firstDayOfWeek": "sunday", "index": "first"},
                   "range": {"type": "numbered", "startDate": "2026-11-30",
                             "endDate": "0001-01-01", "numberOfOccurrences": 4,
                             "recurrenceTimeZone": "UTC"}},
    "body": {"contentType": "text", "content": "Agenda"}, "showAs": "busy",
    "responseStatus": {"response": "organizer"}, "importance": "normal", "categories": [],
    "isCancelled": False, "seriesMasterId": None, "type": "seriesMaster",
    "webLink": "https://outlook.office365.com/owa/?itemid=e",
}
FOLDER = {"id": "AAMkAGFolder=", "displayName": "Sales", "parentFolderId": "AAMkAGInbox=",
          "childFolderCount": 1, "unreadItemCount": 2, "totalItemCount": 5, "isHidden": False}
ATTACHMENT = {"@odata.type": "#microsoft.graph.fileAttachment", "id": "AAMkAtt=",
              "name": "invoice.txt", "contentType": "text/plain", "size": 5, "isInline": False,
              "contentId": None, "lastModifiedDateTime": "2026-11-24T10:30:00Z",
              "contentBytes": "aGVsbG8="}


@pytest.mark.parametrize(("model", "type_name", "payload"), [
    (Email, "message", MESSAGE), (Event, "event", EVENT), (MailFolder, "mailFolder", FOLDER),
    (Attachment, "fileAttachment", ATTACHMENT)])
def test_every_property_read_exists_in_graph_v1(model: Any, type_name: str,
                                                payload: dict[str, Any]) -> None:
    seen: set[tuple[str, ...]] = set()
    model.from_graph(Recording(payload, (), seen))
    assert len(seen) >= len(payload) - 1, seen  # the recording saw the model read them
    assert _check_paths(type_name, seen) == []


def test_every_message_property_an_email_reads_exists_in_graph_v1() -> None:
    # Email.from_graph reads the properties its table names (the Recording above sees only
    # the ones a payload holds): each is on Graph's message type, and together with the
    # body they fill every field of an Email
    assert _check_paths("message", {(key,) for key in _EMAIL_PROPS}) == []
    filled = {name for name, _ in _EMAIL_PROPS.values()} | {"body", "body_type"}
    assert filled == {f.name for f in dataclasses.fields(Email)}


def test_schema_check_catches_a_wrong_name() -> None:
    # the checker itself: a misspelt property or a nested property on the wrong type is caught
    assert _check_paths("message", {("receivedDate",)}) != []
    assert _check_paths("message", {("flag", "dueDate")}) != []
    assert _check_paths("message", {("from", "emailAddress", "address")}) == []


def test_email_from_a_full_message() -> None:
    e = Email.from_graph(MESSAGE)
    assert e.from_ == EmailAddress("b@f.example", "Billing")
    assert [str(r) for r in e.to] == ["Alice <a@c.com>"]
    assert e.cc[0].address == "c@c.com" and e.bcc[0].address == "d@c.com"
    assert e.reply_to[0].name == "Replies"
    assert e.received == datetime(2026, 11, 24, 10, 30, tzinfo=UTC)
    assert e.sent is not None and e.sent.tzinfo is not None
    assert e.body_html is not None and e.body_text == "Hello Alice"
    assert (e.is_read, e.has_attachments, e.importance) == (False, True, "high")
    assert e.categories == ("Finance",)
    assert e.flag == Flag("flagged", due=datetime(2026, 12, 1, tzinfo=UTC),
                          start=datetime(2026, 11, 25, tzinfo=UTC),
                          completed=datetime(2026, 12, 2, 8, tzinfo=UTC))
    assert (e.folder_id, e.conversation_id, e.internet_message_id) == (
        "AAMkAGI2TAAA=", "AAQkAGI2", "<1001@f.example>")
    with pytest.raises(AttributeError):
        e.subject = "changed"  # type: ignore[misc]  # frozen


@pytest.mark.parametrize("model", [Email, Event, MailFolder, Attachment])
def test_a_select_subset_never_raises(model: Any) -> None:
    item = model.from_graph({"id": "AAMk1"})
    assert item.id == "AAMk1"
    empty = model.from_graph({})
    assert empty.id == ""
    # wrong JSON types (a null list, a string where an object belongs) are tolerated too
    odd = model.from_graph({"id": "x", "toRecipients": None, "flag": "x", "body": None,
                            "attendees": None, "start": "x", "size": "big", "isRead": "yes"})
    assert odd.id == "x"


def test_wrong_json_types_read_as_absent() -> None:
    # a string where a list or a boolean belongs is not taken letter by letter or as true
    e = Email.from_graph({"id": "x", "toRecipients": "bob@c.com", "categories": "Finance",
                          "isRead": "yes", "from": "bob@c.com", "flag": "flagged",
                          "body": {"content": "no type"}})
    assert (e.to, e.categories, e.is_read, e.from_, e.flag) == ((), (), None, None, None)
    assert e.body == "no type" and e.body_type is None
    ev = Event.from_graph({"id": "x", "categories": "Work", "isAllDay": 1, "organizer": "a"})
    assert (ev.categories, ev.is_all_day, ev.organizer) == ((), None, None)


def test_an_email_read_from_graph_is_the_email_its_constructor_makes() -> None:
    # from_graph hands its values over at once instead of calling __init__: what a bot does
    # with the result (compare, hash, print, copy, pickle, replace) must not tell them apart
    import copy
    import pickle

    read = Email.from_graph(MESSAGE)
    made = Email(**{f.name: getattr(read, f.name) for f in dataclasses.fields(Email)})
    assert read == made and hash(read) == hash(made) and repr(read) == repr(made)
    assert {read, made} == {made}
    assert copy.copy(read) == made and copy.deepcopy(read) == made
    assert pickle.loads(pickle.dumps(read)) == made
    assert dataclasses.asdict(read) == dataclasses.asdict(made)
    changed = dataclasses.replace(read, subject="changed")
    assert changed.subject == "changed" and changed.from_ == made.from_
    assert read.subject != "changed"
    sender = read.from_
    assert sender is not None and sender == EmailAddress(sender.address, sender.name)
    assert hash(sender) == hash(EmailAddress(sender.address, sender.name))
    for frozen in (read, sender):
        with pytest.raises(dataclasses.FrozenInstanceError):
            frozen.name = "x"  # type: ignore[misc, union-attr]
        with pytest.raises(dataclasses.FrozenInstanceError):
            del frozen.address  # type: ignore[misc, union-attr]
    # a $select subset: the fields left out read their defaults, equal to the constructor's
    few = Email.from_graph({"id": "AAMk1", "subject": "Hi", "isRead": False})
    assert few == Email(id="AAMk1", subject="Hi", is_read=False)
    assert repr(few) == repr(Email(id="AAMk1", subject="Hi", is_read=False))


def test_every_graph_property_an_email_reads_fills_one_of_its_fields() -> None:
    # a misspelt target would give the Email an attribute that is no field: seen by nothing
    names = {f.name for f in dataclasses.fields(Email)}
    targets = [target for target, _ in _EMAIL_PROPS.values()]
    assert set(targets) <= names and len(set(targets)) == len(targets)
    assert names - set(targets) == {"body", "body_type"}  # read from "body" by from_graph
    assert set(vars(Email.from_graph(MESSAGE))) <= names


def test_email_select_subset_fields_are_none_or_empty() -> None:
    e = Email.from_graph({"id": "AAMk1", "subject": "Hi"})
    assert e.subject == "Hi"
    assert (e.from_, e.received, e.is_read, e.flag, e.body_text) == (None,) * 5
    assert e.to == () and e.categories == ()


def test_text_body_and_names() -> None:
    e = Email.from_graph({"id": "1", "body": {"contentType": "Text", "content": "plain <b>"}})
    assert e.body_text == "plain <b>" and e.body_html is None and e.body_type == "text"
    assert EmailAddress.of("Bob Berg <bob@c.com>") == EmailAddress("bob@c.com", "Bob Berg")
    assert EmailAddress.of(' "Berg, Bob" <bob@c.com> ').name == "Berg, Bob"
    assert EmailAddress.of("bob@c.com").to_graph() == {"emailAddress": {"address": "bob@c.com"}}
    assert str(EmailAddress("b@f.example", "B@F.example")) == "b@f.example"


def test_event_reads_and_round_trips() -> None:
    ev = Event.from_graph(EVENT)
    assert ev.start == EventTime(datetime(2026, 11, 30, 9), "UTC")
    assert ev.start.aware == datetime(2026, 11, 30, 9, tzinfo=UTC)
    assert ev.attendees == (Attendee(EmailAddress("b@c.com", "Bob"), "required", "accepted",
                                     datetime(2026, 11, 20, 10, tzinfo=UTC)),)
    assert ev.online_meeting_url == "https://teams.example/join/1"
    assert ev.recurrence == Recurrence(pattern="weekly", start=date(2026, 11, 30),
                                       days_of_week=("monday",), first_day_of_week="sunday",
                                       index="first", count=4, time_zone="UTC")
    assert ev.organizer == EmailAddress("a@c.com", "Alice") and ev.is_all_day is False
    assert ev.categories == () and Event.from_graph({**EVENT, "categories": ["Work"]}
                                                    ).categories == ("Work",)
    folder = MailFolder.from_graph(FOLDER)
    assert folder.is_hidden is False and folder.unread_count == 2
    again = Event.from_graph(ev.to_graph())
    for name in ("subject", "start", "end", "location", "is_online_meeting", "recurrence",
                 "body", "show_as", "importance"):
        assert getattr(again, name) == getattr(ev, name), name
    assert again.attendees[0].email == ev.attendees[0].email


@pytest.mark.parametrize("rec", [
    Recurrence.daily(start=date(2026, 12, 1), count=5),
    Recurrence.weekly(days=("Monday", "thursday"), start=date(2026, 12, 1), interval=2,
                      end=date(2027, 3, 1)),
    Recurrence.monthly(day=15, start=date(2026, 12, 15)),
])
def test_recurrence_round_trips(rec: Recurrence) -> None:
    assert Recurrence.from_graph(rec.to_graph()) == rec
    graph = rec.to_graph()
    assert graph["range"]["type"] in ("numbered", "endDate", "noEnd")
    assert set(graph["pattern"]) <= set(SCHEMA["recurrencePattern"]["properties"])
    assert set(graph["range"]) <= set(SCHEMA["recurrenceRange"]["properties"])


@pytest.mark.parametrize(("make", "words"), [
    (lambda: Recurrence.daily(start=date(2026, 12, 1), interval=0), "interval"),
    (lambda: Recurrence.daily(start=date(2026, 12, 1), count=2, end=date(2027, 1, 1)), "both"),
    (lambda: Recurrence.weekly(days=(), start=date(2026, 12, 1)), "needs the days of the week"),
    (lambda: Recurrence.weekly(days=("funday",), start=date(2026, 12, 1)), "days of week"),
    (lambda: Recurrence.monthly(day=32, start=date(2026, 12, 1)), "day of month"),
    (lambda: Recurrence.daily(start=date(2026, 12, 1), end=date(2026, 11, 1)), "before"),
])
def test_bad_recurrence_names_the_field(make: Any, words: str) -> None:
    with pytest.raises(ConfigError, match=words) as info:
        make()
    assert info.value.field == "recurrence" and info.value.advice


def test_flag_and_time_zones() -> None:
    berlin = timezone(timedelta(hours=1))
    flag = Flag("flagged", due=datetime(2026, 12, 1, 10, tzinfo=berlin))
    assert flag.to_graph() == {"flagStatus": "flagged",
                               "dueDateTime": {"dateTime": "2026-12-01T09:00:00",
                                               "timeZone": "UTC"}}
    assert Flag.from_graph(flag.to_graph()).due == datetime(2026, 12, 1, 9, tzinfo=UTC)
    with pytest.raises(ConfigError, match="flag status"):
        Flag("done").to_graph()
    windows = EventTime.from_graph({"dateTime": "2026-12-01T09:00:00",
                                    "timeZone": "W. Europe Standard Time"})
    assert windows is not None and windows.aware is None  # a Windows zone is not guessed
    paris = EventTime.of(datetime(2026, 12, 1, 9, tzinfo=UTC), "Europe/Paris")
    assert paris.to_graph() == {"dateTime": "2026-12-01T10:00:00", "timeZone": "Europe/Paris"}


def test_attachment_kinds_and_result() -> None:
    a = Attachment.from_graph(ATTACHMENT)
    assert (a.kind, a.name, a.size, a.content) == ("file", "invoice.txt", 5, b"hello")
    assert (a.id, a.content_type, a.is_inline, a.content_id) == (
        "AAMkAtt=", "text/plain", False, None)
    assert a.last_modified == datetime(2026, 11, 24, 10, 30, tzinfo=UTC)
    item = Attachment.from_graph({"@odata.type": "#microsoft.graph.itemAttachment", "id": "i"})
    assert item.kind == "item" and item.content is None
    inline = Attachment.from_graph({"id": "r", "contentId": "cid1", "isInline": True})
    assert (inline.kind, inline.content_id, inline.is_inline) == ("file", "cid1", True)
    # contentBytes that is not strict base64 is not guessed at
    assert Attachment.from_graph({"id": "x", "contentBytes": "aGVs!bG8="}).content is None
    ok = Result.from_graph("m1", 201, {"id": "m1-new"})
    assert (ok.item_id, ok.ok, ok.status, ok.new_id) == ("m1", True, 201, "m1-new")
    bad = Result.from_graph("m2", 403, {"error": {"code": "ErrorAccessDenied",
                                                  "message": "Access is denied."}})
    assert (bad.item_id, bad.ok, bad.status, bad.code, bad.message) == (
        "m2", False, 403, "ErrorAccessDenied", "Access is denied.")
    assert Result.from_graph("m3", 503, None).code == "HTTP503"
    assert Result.from_graph("m4", 400, {}).ok is False  # every 4xx is a failure
    done = Result.from_graph("m5", 204, None)  # a PATCH or DELETE item: no body
    assert (done.ok, done.new_id) == (True, None)


def test_event_and_folder_read_every_field() -> None:
    ev = Event.from_graph(EVENT)
    assert (ev.id, ev.subject, ev.location, ev.is_online_meeting) == (
        "AAMkAGEvent=", "Weekly sync", "Teams", True)
    assert ev.end == EventTime(datetime(2026, 11, 30, 9, 30), "UTC")
    assert (ev.body, ev.body_type, ev.show_as, ev.response_status, ev.importance) == (
        "Agenda", "text", "busy", "organizer", "normal")
    assert (ev.is_cancelled, ev.series_master_id, ev.type) == (False, None, "seriesMaster")
    assert ev.web_link == "https://outlook.office365.com/owa/?itemid=e"
    # the join link of onlineMeeting first, the older onlineMeetingUrl otherwise
    old = Event.from_graph({"id": "e", "onlineMeetingUrl": "https://teams.example/old"})
    assert old.online_meeting_url == "https://teams.example/old"
    html = Event.from_graph({"id": "e", "body": {"contentType": "HTML", "content": "<p>x</p>"}})
    assert html.body_type == "html"
    untyped = Event.from_graph({"id": "e", "body": {"content": "x"}})
    assert untyped.body == "x" and untyped.body_type is None
    occurrence = Event.from_graph({"id": "o", "type": "occurrence", "seriesMasterId": "AAMkM"})
    assert (occurrence.type, occurrence.series_master_id) == ("occurrence", "AAMkM")
    folder = MailFolder.from_graph(FOLDER, path="Inbox/Sales", well_known_name=None)
    assert (folder.id, folder.display_name, folder.parent_id, folder.path) == (
        "AAMkAGFolder=", "Sales", "AAMkAGInbox=", "Inbox/Sales")
    assert (folder.child_count, folder.total_count) == (1, 5)
    inbox = MailFolder.from_graph({"id": "i"}, well_known_name="inbox")
    assert inbox.well_known_name == "inbox" and inbox.path is None


# -- what the builders send, and how their checks refuse ---------------------------------------

START = date(2026, 12, 1)


@pytest.mark.parametrize(("make", "graph"), [
    (lambda: Recurrence.daily(start=START),
     {"pattern": {"type": "daily", "interval": 1},
      "range": {"startDate": "2026-12-01", "type": "noEnd"}}),
    (lambda: Recurrence.daily(start=START, interval=3, count=5),
     {"pattern": {"type": "daily", "interval": 3},
      "range": {"startDate": "2026-12-01", "type": "numbered", "numberOfOccurrences": 5}}),
    (lambda: Recurrence.weekly(days=("Monday", "THURSDAY"), start=START, end=date(2027, 3, 1)),
     {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday", "thursday"]},
      "range": {"startDate": "2026-12-01", "type": "endDate", "endDate": "2027-03-01"}}),
    (lambda: Recurrence.weekly(days=("friday",), start=START, interval=2, count=10),
     {"pattern": {"type": "weekly", "interval": 2, "daysOfWeek": ["friday"]},
      "range": {"startDate": "2026-12-01", "type": "numbered", "numberOfOccurrences": 10}}),
    (lambda: Recurrence.monthly(day=15, start=START, interval=2, count=6),
     {"pattern": {"type": "absoluteMonthly", "interval": 2, "dayOfMonth": 15},
      "range": {"startDate": "2026-12-01", "type": "numbered", "numberOfOccurrences": 6}}),
    (lambda: Recurrence.monthly(day=31, start=START, end=date(2027, 12, 31)),
     {"pattern": {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31},
      "range": {"startDate": "2026-12-01", "type": "endDate", "endDate": "2027-12-31"}}),
])
def test_recurrence_builders_send_what_was_asked(make: Any, graph: dict[str, Any]) -> None:
    # the series Outlook creates is exactly this JSON: an interval, an end or a count lost
    # on the way would silently make a different series. (Built in the test, not in the
    # parameters: a mutation run collects those once, before any mutant is switched on.)
    assert make().to_graph() == graph


@pytest.mark.parametrize("make", [
    lambda: Recurrence.daily(start=START, count=1),                  # one occurrence
    lambda: Recurrence.daily(start=START, end=START),                # ends the day it starts
    lambda: Recurrence.monthly(day=1, start=START),
    lambda: Recurrence.monthly(day=31, start=START),
])
def test_recurrence_accepts_its_boundaries(make: Any) -> None:
    assert make().to_graph()["range"]["startDate"] == "2026-12-01"


@pytest.mark.parametrize(("make", "message", "advice"), [
    (lambda: Recurrence(pattern="hourly", start=START).checked(),
     "recurrence: pattern 'hourly' is unknown",
     "use one of daily, weekly, absoluteMonthly, relativeMonthly, absoluteYearly, "
     "relativeYearly"),
    (lambda: Recurrence.daily(start=START, interval=0),
     "recurrence: interval 0 is not a positive number", "use 1 or more"),
    (lambda: Recurrence.daily(start=START, count=2, end=date(2027, 1, 1)),
     "recurrence: both an end date and a count were given", "give one of end or count"),
    (lambda: Recurrence.daily(start=START, count=0),
     "recurrence: count 0 is not a positive number", "use 1 or more"),
    (lambda: Recurrence.daily(start=START, end=date(2026, 11, 30)),
     "recurrence: the end date 2026-11-30 is before the start 2026-12-01",
     "give an end date on or after the start date"),
    (lambda: Recurrence.weekly(days=(), start=START),
     "recurrence: a weekly series needs the days of the week it falls on",
     "give days such as ('monday', 'thursday') (on the command line: --days monday,thursday)"),
    (lambda: Recurrence.weekly(days=("funday",), start=START),
     "recurrence: days of week ['funday'] are not valid",
     "give one or more of sunday, monday, tuesday, wednesday, thursday, friday, saturday"),
    (lambda: Recurrence.monthly(day=0, start=START),
     "recurrence: day of month 0 is not 1-31", "use a day from 1 to 31"),
    (lambda: Recurrence(pattern="absoluteMonthly", start=START).checked(),
     "recurrence: day of month None is not 1-31", "use a day from 1 to 31"),
])
def test_a_refused_recurrence_says_what_to_fix(make: Any, message: str, advice: str) -> None:
    with pytest.raises(ConfigError) as info:
        make()
    assert (info.value.field, info.value.message, info.value.advice) == (
        "recurrence", message, advice)


def test_format_datetime_writes_utc_and_refuses_a_naive_time() -> None:
    plus_one = timezone(timedelta(hours=1))
    assert format_datetime(datetime(2026, 12, 1, 10, 30, 5, tzinfo=plus_one)) == (
        "2026-12-01T09:30:05Z")
    with pytest.raises(ConfigError) as info:
        format_datetime(datetime(2026, 12, 1, 10, 30))
    assert (info.value.field, info.value.message, info.value.advice) == (
        "datetime", "the time 2026-12-01T10:30:00 has no time zone",
        "pass an aware datetime, e.g. datetime(..., tzinfo=UTC)")


def test_parse_datetime_keeps_an_offset_and_reads_a_bare_time_as_utc() -> None:
    assert parse_datetime("2026-12-01T09:00:00") == datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert parse_datetime("2026-12-01T09:00:00Z").tzinfo is not None
    berlin = parse_datetime("2026-12-01T10:00:00+01:00")
    assert berlin is not None and berlin.utcoffset() == timedelta(hours=1)
    assert (parse_datetime(""), parse_datetime("Monday"), parse_datetime(None),
            parse_datetime(1764579600)) == (None,) * 4


def test_event_time_of_keeps_the_wall_clock_and_the_zone() -> None:
    naive = datetime(2026, 12, 1, 9, 0)
    assert EventTime.of(naive) == EventTime(naive, "UTC")
    assert EventTime.of(naive, "Europe/Berlin") == EventTime(naive, "Europe/Berlin")
    # an IANA zone's name goes to Graph with the wall-clock time in it
    berlin = datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert EventTime.of(berlin) == EventTime(naive, "Europe/Berlin")
    # a bare offset has no name Graph knows: the time goes as UTC
    assert EventTime.of(datetime(2026, 12, 1, 9, 0, tzinfo=timezone(timedelta(hours=2)))
                        ) == EventTime(datetime(2026, 12, 1, 7, 0), "UTC")


@pytest.mark.parametrize("name", ["", "UTC", "utc", "GMT", "gmt", "Z", "z"])
def test_utc_names_make_an_aware_time(name: str) -> None:
    aware = EventTime(datetime(2026, 12, 1, 9, 0), name).aware
    assert aware == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_attendee_and_flag_builders_say_what_to_fix() -> None:
    bob = EmailAddress("bob@contoso.com", "Bob")
    assert Attendee(bob, "optional").to_graph() == {
        "emailAddress": {"address": "bob@contoso.com", "name": "Bob"}, "type": "optional"}
    with pytest.raises(ConfigError) as info:
        Attendee(bob, "vip").to_graph()
    assert (info.value.field, info.value.message, info.value.advice) == (
        "attendees", "attendee type 'vip' is not one Graph knows",
        "use one of required, optional, resource")
    with pytest.raises(ConfigError) as info:
        Flag("done").to_graph()
    assert (info.value.field, info.value.message, info.value.advice) == (
        "flag", "flag status 'done' is not one Graph knows",
        "use one of notFlagged, flagged, complete")


def test_event_to_graph_sends_only_what_is_set() -> None:
    assert Event().to_graph() == {}
    ev = Event(subject="Review", is_all_day=False, body="Agenda", categories=("Work", "Q4"))
    assert ev.to_graph() == {"subject": "Review", "isAllDay": False,
                             "body": {"contentType": "text", "content": "Agenda"},
                             "categories": ["Work", "Q4"]}
    html = Event(body="<p>Agenda</p>", body_type="html").to_graph()
    assert html == {"body": {"contentType": "html", "content": "<p>Agenda</p>"}}


def test_readers_fill_graph_defaults_for_missing_properties() -> None:
    assert Flag.from_graph({}).status == "notFlagged"
    assert Attendee.from_graph({"emailAddress": {"address": "b@c.com"}}).type == "required"
    assert Attendee.from_graph({"emailAddress": {"address": "b@c.com"}, "type": "optional"}
                               ).type == "optional"
    moment = EventTime.from_graph({"dateTime": "2026-12-01T09:00:00"})
    assert moment is not None and moment.time_zone == "UTC"
    untyped = Recurrence.from_graph({"pattern": {"firstDayOfWeek": "sunday"},
                                     "range": {"startDate": "2026-12-01"}})
    assert untyped is not None and (untyped.pattern, untyped.interval) == ("daily", 1)
    # Graph sends numberOfOccurrences 0 with an end date: that is no count
    dated = Recurrence.from_graph({"pattern": {"type": "daily", "interval": 1},
                                   "range": {"type": "endDate", "startDate": "2026-12-01",
                                             "endDate": "2026-12-31",
                                             "numberOfOccurrences": 0}})
    assert dated is not None and (dated.end, dated.count) == (date(2026, 12, 31), None)
    stamped = Recurrence.from_graph({"pattern": {"type": "daily"},
                                     "range": {"startDate": "2026-12-01T00:00:00Z"}})
    assert stamped is not None and stamped.start == START
    assert Recurrence.from_graph({"pattern": {"type": "daily"}, "range": {}}) is None
    assert Recurrence.from_graph({"range": {"startDate": "2026-12-01"}}) is None
    assert EmailAddress.from_graph({"emailAddress": None}) == EmailAddress("")
    # an emailAddress as well as a recipient (which wraps one)
    assert EmailAddress.from_graph({"address": "b@c.com", "name": "B"}) == EmailAddress(
        "b@c.com", "B")
    # any JSON object, not only a dict (a caller's own Mapping)
    proxied = Email.from_graph({"id": "1", "from": MappingProxyType(
        {"emailAddress": MappingProxyType({"address": "b@c.com"})})})
    assert proxied.from_ == EmailAddress("b@c.com")
    assert (Attachment.from_graph({"id": "a", "size": "5"}).size,
            Attachment.from_graph({"id": "a", "size": True}).size) == (None, None)
    assert EmailAddress.of("<bob@c.com>") == EmailAddress("bob@c.com")
    assert Attachment.from_graph({"id": "a"}).kind == "file"


def test_html_bodies_read_as_text() -> None:
    html = ("<html><head><title>Memo</title><style>p {}</style>head text</head>"
            "<body><p>Tom &amp; Jerry</p><script>alert(1)</script><div>second   line</div>"
            "</body></html>")
    assert html_to_text(html) == "Tom & Jerry\nsecond line"
    assert html_to_text("<head><b>hidden</b></head>shown") == "shown"
    # text after a closed block starts a new line; table cells stay apart
    assert html_to_text("<p>Hello</p>World") == "Hello\nWorld"
    assert html_to_text("<table><tr><td>Total</td><td>42</td></tr><tr><td>Due</td></tr>"
                        "</table>") == "Total 42\nDue"


def test_graph_times_are_utc_whatever_the_machine_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    # bots run on runners set to local time: what goes to Graph must not follow them
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        noon = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
        assert format_datetime(noon) == "2026-12-01T12:00:00Z"
        flag = Flag("flagged", start=noon, due=noon + timedelta(days=1),
                    completed=noon + timedelta(days=2)).to_graph()
        assert flag == {
            "flagStatus": "flagged",
            "dueDateTime": {"dateTime": "2026-12-02T12:00:00", "timeZone": "UTC"},
            "startDateTime": {"dateTime": "2026-12-01T12:00:00", "timeZone": "UTC"},
            "completedDateTime": {"dateTime": "2026-12-03T12:00:00", "timeZone": "UTC"}}
    finally:
        monkeypatch.undo()
        time.tzset()

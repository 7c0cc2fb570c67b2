"""The calendar actions without I/O: input checks (times, zones, attendees, ids, recurrence),
the calendarView request, the bodies of create and update, and the plans that the sync and async
shells of :mod:`m365bot.outlook.calendar` both run.

Every check raises :class:`~m365bot.errors.ConfigError` naming the field, before anything is
sent.

Example::

    plans = CalendarPlans("bob@contoso.com")
    run(session, plans.get("AAMkAG...", time_zone="Europe/Berlin"))
    view = plans.view(datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 8, tzinfo=UTC))
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from m365bot.errors import ConfigError, GraphError
from m365bot.graph.core import mailbox_path
from m365bot.outlook.models import Attendee, EmailAddress, Event, EventTime, Recurrence
from m365bot.outlook.plans import Call, Plan

# Windows zone names Outlook uses (Graph takes these or IANA names), with the IANA zone each
# stands for (Unicode CLDR's windowsZones, territory 001)
WINDOWS_ZONES: dict[str, str] = {k.lower(): v for k, v in {
    "Coordinated Universal Time": "UTC", "Greenwich Standard Time": "Atlantic/Reykjavik",
    "GMT Standard Time": "Europe/London", "W. Europe Standard Time": "Europe/Berlin",
    "Romance Standard Time": "Europe/Paris", "Central Europe Standard Time": "Europe/Budapest",
    "Central European Standard Time": "Europe/Warsaw",
    "E. Europe Standard Time": "Europe/Chisinau", "FLE Standard Time": "Europe/Kiev",
    "GTB Standard Time": "Europe/Bucharest", "Russian Standard Time": "Europe/Moscow",
    "Turkey Standard Time": "Europe/Istanbul", "Israel Standard Time": "Asia/Jerusalem",
    "South Africa Standard Time": "Africa/Johannesburg", "Egypt Standard Time": "Africa/Cairo",
    "Arabian Standard Time": "Asia/Dubai", "Arab Standard Time": "Asia/Riyadh",
    "Iran Standard Time": "Asia/Tehran", "Pakistan Standard Time": "Asia/Karachi",
    "India Standard Time": "Asia/Kolkata", "Bangladesh Standard Time": "Asia/Dhaka",
    "SE Asia Standard Time": "Asia/Bangkok", "China Standard Time": "Asia/Shanghai",
    "Singapore Standard Time": "Asia/Singapore", "Taipei Standard Time": "Asia/Taipei",
    "Tokyo Standard Time": "Asia/Tokyo", "Korea Standard Time": "Asia/Seoul",
    "W. Australia Standard Time": "Australia/Perth",
    "AUS Central Standard Time": "Australia/Darwin",
    "AUS Eastern Standard Time": "Australia/Sydney",
    "E. Australia Standard Time": "Australia/Brisbane",
    "New Zealand Standard Time": "Pacific/Auckland", "Hawaiian Standard Time": "Pacific/Honolulu",
    "Alaskan Standard Time": "America/Anchorage", "Pacific Standard Time": "America/Los_Angeles",
    "US Mountain Standard Time": "America/Phoenix", "Mountain Standard Time": "America/Denver",
    "Central Standard Time": "America/Chicago", "Eastern Standard Time": "America/New_York",
    "Atlantic Standard Time": "America/Halifax",
    "Newfoundland Standard Time": "America/St_Johns",
    "E. South America Standard Time": "America/Sao_Paulo",
    "Argentina Standard Time": "America/Argentina/Buenos_Aires",
    "SA Pacific Standard Time": "America/Bogota",
    "Central America Standard Time": "America/Guatemala",
    "Central Standard Time (Mexico)": "America/Mexico_City",
}.items()}

# Graph ids: base64 (url) characters; anything else cannot be an event id
_ID = re.compile(r"^[A-Za-z0-9+/=_-]{8,400}$")
_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")

SELECT = ("id", "subject", "start", "end", "isAllDay", "location", "attendees", "organizer",
          "isOnlineMeeting", "onlineMeeting", "recurrence", "showAs", "responseStatus",
          "importance", "categories", "isCancelled", "seriesMasterId", "type", "webLink")
RESPONSES = {"accept": "accept", "tentative": "tentativelyAccept", "decline": "decline"}

TimeLike = datetime | date | EventTime
People = str | Iterable[str | EmailAddress | Attendee]


def check_zone(name: str | None, field: str = "time_zone") -> str | None:
    """``name`` if Graph knows the zone (IANA, UTC or a Windows name), else ConfigError.

    Example::

        check_zone("W. Europe Standard Time")      # returned as given
        check_zone("Mars/Olympus")                 # ConfigError(field="time_zone")
    """
    if name is None:
        return None
    if not isinstance(name, str) or not name.strip():
        raise ConfigError("the time zone is empty", field=field,
                          advice="give an IANA name such as Europe/Berlin, or UTC")
    if _tz(name) is None:
        raise ConfigError(f"unknown time zone {name!r}", field=field,
                          advice="give an IANA name such as Europe/Berlin, UTC, or a Windows "
                          "name such as 'W. Europe Standard Time'")
    return name


def _tz(name: str) -> tzinfo | None:
    """The zone ``name`` stands for (IANA, UTC or a Windows name), or None if unknown."""
    if name.upper() in ("UTC", "GMT", "Z"):
        return UTC
    try:
        return ZoneInfo(WINDOWS_ZONES.get(name.strip().lower(), name))
    except (ZoneInfoNotFoundError, ValueError):
        return None


def check_id(event_id: str, field: str = "event_id") -> str:
    """``event_id`` if it has the form of a Graph id, else ConfigError.

    Example::

        check_id("../../messages", "EVENT_ID")    # ConfigError(field="EVENT_ID")
    """
    if not isinstance(event_id, str) or not _ID.match(event_id):
        raise ConfigError(f"{event_id!r} is not an event id", field=field,
                          advice="pass the id of an event as listed (the 'id' in --json)")
    return event_id


def check_mailbox(mailbox: str | None, default: str) -> str:
    """The Graph path of the calendar's mailbox: ``mailbox`` (shared) or the session's.

    Example::

        check_mailbox("ops@contoso.com", "bob@contoso.com") == "/users/ops@contoso.com"
    """
    if mailbox is None:
        return mailbox_path(default)
    if not _ADDRESS.match(mailbox):
        raise ConfigError(f"{mailbox!r} is not a mailbox address", field="mailbox",
                          advice="give the shared mailbox's address, e.g. ops@contoso.com")
    return mailbox_path(mailbox)


def parse_attendees(value: People | None, kind: str, field: str) -> tuple[Attendee, ...]:
    """Attendees of ``kind`` from addresses ("Bob <bob@x>", comma- or semicolon-separated
    text, EmailAddress or Attendee), every address checked.

    Example::

        parse_attendees("Bob <bob@contoso.com>; eve@contoso.com", "required", "attendees")
    """
    if value is None:
        return ()
    items: Iterable[Any] = re.split(r"[;,]", value) if isinstance(value, str) else value
    out: list[Attendee] = []
    for item in items:
        if isinstance(item, str):
            if not item.strip():
                continue
            item = EmailAddress.of(item.strip())
        attendee = item if isinstance(item, Attendee) else Attendee(email=item, type=kind)
        if not isinstance(attendee.email, EmailAddress) or not _ADDRESS.match(
                attendee.email.address or ""):
            raise ConfigError(f"{attendee.email!s} is not an email address", field=field,
                              advice="give addresses such as bob@contoso.com or "
                              "'Bob Berg <bob@contoso.com>'")
        out.append(attendee)
    return tuple(out)


def event_time(value: TimeLike, time_zone: str | None, field: str) -> EventTime:
    """Graph's ``dateTimeTimeZone`` for ``value``: an aware datetime (kept in ``time_zone``
    when given), a naive one in ``time_zone``, an EventTime, or a date (midnight).

    Example::

        event_time(datetime(2026, 12, 1, 9), "Europe/Berlin", "start")
        event_time(datetime(2026, 12, 1, 8, tzinfo=UTC), "Europe/Berlin", "start")  # 9:00
    """
    if isinstance(value, EventTime):
        check_zone(value.time_zone, field)
        return value
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, time())
    if not isinstance(value, datetime):
        raise ConfigError(f"{field}: {value!r} is not a date or time", field=field,
                          advice="pass a datetime, e.g. datetime(2026, 12, 1, 9, tzinfo=UTC)")
    if value.tzinfo is None and time_zone is None:
        raise ConfigError(f"{field}: the time {value.isoformat()} has no time zone",
                          field=field, advice="pass an aware datetime or give time_zone=")
    if value.tzinfo is not None and time_zone is not None:  # the wall clock in time_zone
        local = value.astimezone(_tz(time_zone) or UTC)
        return EventTime(date_time=local.replace(tzinfo=None), time_zone=time_zone)
    return EventTime.of(value, time_zone)


def _instant(t: EventTime) -> datetime:
    return t.date_time.replace(tzinfo=_tz(t.time_zone) or UTC).astimezone(UTC)


def check_order(start: EventTime, end: EventTime) -> None:
    """ConfigError (field ``end``) when ``end`` comes before ``start``, zones considered.

    Example::

        check_order(EventTime(datetime(2026, 12, 1, 10)), EventTime(datetime(2026, 12, 1, 9)))
    """
    if _instant(end) < _instant(start):
        raise ConfigError(f"end: {end.date_time} is before the start {start.date_time}",
                          field="end", advice="give an end on or after the start")


def check_recurrence(recurrence: Recurrence | None) -> Recurrence | None:
    """The recurrence, checked, with an end date or a count (a series without end is refused).

    Example::

        check_recurrence(Recurrence.daily(start=date(2026, 12, 1), count=5))
    """
    if recurrence is None:
        return None
    if not isinstance(recurrence, Recurrence):
        raise ConfigError("recurrence must be a Recurrence", field="recurrence",
                          advice="use Recurrence.daily/weekly/monthly(start=..., end= or count=)")
    recurrence.checked()
    if recurrence.end is None and recurrence.count is None:
        raise ConfigError("the recurrence has no end", field="recurrence",
                          advice="give end=DATE or count=N (a series without end is not "
                          "created by this action)")
    return recurrence


def prefer(time_zone: str | None) -> dict[str, str] | None:
    """``Prefer: outlook.timezone`` so that Graph answers in ``time_zone`` (else UTC).

    Example::

        prefer("Europe/Berlin") == {"Prefer": 'outlook.timezone="Europe/Berlin"'}
    """
    return {"Prefer": f'outlook.timezone="{time_zone}"'} if time_zone else None


@dataclass(frozen=True, slots=True)
class View:
    """A calendarView request for the engine's pager (sync and async alike).

    Example::

        v = plans.view(date(2026, 12, 1), date(2026, 12, 8))
        session.graph.paginate(v.path, params=v.params, select=v.select, headers=v.headers)
    """

    path: str
    params: dict[str, str]
    select: tuple[str, ...]
    headers: dict[str, str] | None


def _view_bound(value: TimeLike, time_zone: str | None, field: str) -> str:
    t = event_time(value, time_zone or "UTC", field)
    return _instant(t).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Changes:
    """What an update sends: only the given fields (PATCH).

    Example::

        plans.changes(subject="New").body == {"subject": "New"}
    """

    body: dict[str, Any]

    @property
    def fields(self) -> list[str]:
        return sorted(self.body)


class CalendarPlans:
    """The calendar's requests and plans for one session's mailbox (``mailbox=`` picks a
    shared one per call).

    Example::

        plans = CalendarPlans(session.mailbox)
        event = run(session, plans.get(event_id, time_zone="UTC"))
    """

    def __init__(self, mailbox: str) -> None:
        self.mailbox = mailbox

    def _events(self, mailbox: str | None) -> str:
        return check_mailbox(mailbox, self.mailbox) + "/events"

    def view(self, start: TimeLike, end: TimeLike, *, time_zone: str | None = None,
             mailbox: str | None = None, select: Sequence[str] | None = None) -> View:
        """The calendarView request for [start, end): Graph expands series into occurrences."""
        check_zone(time_zone)
        params = {"startDateTime": _view_bound(start, time_zone, "start"),
                  "endDateTime": _view_bound(end, time_zone, "end"),
                  "$orderby": "start/dateTime"}
        if params["endDateTime"] <= params["startDateTime"]:
            raise ConfigError(f"the end {end} is not after the start {start}", field="end",
                              advice="give an end later than the start")
        box = check_mailbox(mailbox, self.mailbox)
        return View(f"{box}/calendarView", params, tuple(select or SELECT), prefer(time_zone))

    def get(self, event_id: str, *, time_zone: str | None = None,
            mailbox: str | None = None) -> Plan[Event]:
        path = f"{self._events(mailbox)}/{check_id(event_id)}"
        headers = prefer(check_zone(time_zone))
        answer = yield Call("GET", path, headers=headers)
        return Event.from_graph(answer.body or {})

    def new_event(self, subject: str, start: TimeLike, end: TimeLike, *,
                  attendees: People | None = None, optional_attendees: People | None = None,
                  location: str | None = None, body: str | None = None,
                  body_type: str = "text", online_meeting: bool = False,
                  recurrence: Recurrence | None = None, time_zone: str | None = None,
                  transaction_id: str | None = None) -> dict[str, Any]:
        """The checked JSON of a new event (POST .../events)."""
        if not isinstance(subject, str):
            raise ConfigError("the subject must be text", field="subject",
                              advice="give the event's subject")
        out = self.changes(subject=subject, start=start, end=end, location=location, body=body,
                           body_type=body_type, attendees=attendees,
                           optional_attendees=optional_attendees,
                           online_meeting=online_meeting, recurrence=recurrence,
                           time_zone=time_zone).body
        out["transactionId"] = transaction_id or uuid.uuid4().hex
        return out

    def create(self, data: dict[str, Any], *, time_zone: str | None = None,
               mailbox: str | None = None) -> Plan[Event]:
        """POST the event once: its ``transactionId`` makes Graph return the event made by an
        earlier try, so the engine may resend after a 503, 504 or dropped connection."""
        answer = yield Call("POST", self._events(mailbox), json=data, headers=prefer(time_zone),
                            guarded=True)
        return Event.from_graph(answer.body or {})

    def changes(self, *, subject: str | None = None, start: TimeLike | None = None,
                end: TimeLike | None = None, location: str | None = None,
                body: str | None = None, body_type: str = "text",
                attendees: People | None = None, optional_attendees: People | None = None,
                online_meeting: bool | None = None, recurrence: Recurrence | None = None,
                time_zone: str | None = None) -> Changes:
        """The PATCH body with only the given fields, checked."""
        check_zone(time_zone)
        first = None if start is None else event_time(start, time_zone, "start")
        last = None if end is None else event_time(end, time_zone, "end")
        if first is not None and last is not None:
            check_order(first, last)
        _check_body_type(body_type)
        people = (parse_attendees(attendees, "required", "attendees")
                  + parse_attendees(optional_attendees, "optional", "optional_attendees"))
        out = Event(subject=subject, start=first, end=last, location=location,
                    attendees=people, is_online_meeting=online_meeting,
                    recurrence=check_recurrence(recurrence), body=body,
                    body_type=body_type).to_graph()
        if online_meeting:
            out["onlineMeetingProvider"] = "teamsForBusiness"
        if not out:
            raise ConfigError("nothing to update", field="fields",
                              advice="give at least one field to change (subject, start, ...)")
        return Changes(out)

    def update(self, event_id: str, changes: Changes, *, time_zone: str | None = None,
               mailbox: str | None = None) -> Plan[Event]:
        path = f"{self._events(mailbox)}/{check_id(event_id)}"
        answer = yield Call("PATCH", path, json=changes.body, headers=prefer(time_zone))
        return Event.from_graph(answer.body or {})

    def delete(self, event_id: str, *, cancel: bool = False, comment: str | None = None,
               mailbox: str | None = None) -> Plan[str]:
        """Delete the event, or (``cancel``, or a ``comment``) cancel the meeting: attendees
        get the cancellation with the comment (the organizer only). Returns what was done."""
        path = f"{self._events(mailbox)}/{check_id(event_id)}"
        if cancel or comment is not None:
            try:
                yield Call("POST", f"{path}/cancel", json={"comment": comment or ""})
            except GraphError as exc:
                if exc.status != 400:
                    raise
                raise GraphError(exc.message, code=exc.code, status=exc.status,
                                 request_id=exc.request_id,
                                 advice="only the organizer can cancel a meeting; as an "
                                 "attendee, decline it, or delete it without cancel") from exc
            return "cancelled"
        yield Call("DELETE", path)
        return "deleted"

    def respond(self, event_id: str, answer: str, *, comment: str | None = None,
                send_response: bool = True, mailbox: str | None = None) -> Plan[str]:
        """Accept, tentatively accept or decline (``answer``: accept, tentative, decline)."""
        action = RESPONSES.get(answer)
        if action is None:
            raise ConfigError(f"unknown response {answer!r}", field="response",
                              advice=f"use one of {', '.join(RESPONSES)}")
        if not isinstance(send_response, bool):
            raise ConfigError("send_response must be true or false", field="send_response",
                              advice="pass True or False")
        path = f"{self._events(mailbox)}/{check_id(event_id)}/{action}"
        body: dict[str, Any] = {"sendResponse": send_response}
        if comment is not None:
            body["comment"] = comment
        yield Call("POST", path, json=body)
        return action


def _check_body_type(body_type: str) -> None:
    if body_type not in ("text", "html"):
        raise ConfigError(f"body type {body_type!r} is not text or html", field="body_type",
                          advice="use text or html")


__all__ = ["SELECT", "CalendarPlans", "Changes", "View", "check_id",
           "check_mailbox", "check_order", "check_recurrence", "check_zone", "event_time",
           "parse_attendees", "prefer"]

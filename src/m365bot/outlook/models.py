"""The data the Outlook actions return and send: frozen, typed objects, with Graph's camelCase
mapped to snake_case here and nowhere else.

``Model.from_graph(dict)`` reads a Graph JSON object and tolerates ``$select`` subsets: a
missing property becomes ``None`` (or an empty tuple), never a ``KeyError``. ``to_graph()``
builds the JSON the actions send (recipients, flags, recurrence, events). Models do no I/O:
the operations live on the session (``session.mail``, ``session.folders``, ...).

Example::

    email = Email.from_graph(session.graph_get(f"/users/{box}/messages/{mid}").body)
    email.from_.address, email.received, email.is_read
    Recipient.of("Bob Berg <bob@contoso.com>").to_graph()
    Recurrence.weekly(days=("monday",), start=date(2026, 12, 1), count=10).to_graph()
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timezone
from typing import Any, TypeGuard, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from m365bot.errors import ConfigError
from m365bot.outlook.htmltext import html_to_text

Json = Mapping[str, Any]
_M = TypeVar("_M")


def _read(cls: type[_M], values: dict[str, Any]) -> _M:
    """An instance of the frozen dataclass ``cls`` made of ``values`` (field -> value); the
    fields left out keep their defaults, which the class holds. ``from_graph`` of the models
    a listing makes by the thousand (Email, EmailAddress) builds them this way: the
    generated ``__init__`` of a frozen dataclass sets each field through
    ``object.__setattr__``: an Email of five properties took 7.6 us to read that way, and
    takes 3.6 us with its values handed over at once. Those classes keep a ``__dict__`` (no
    ``slots``) for this; ``values`` names only their fields (checked by the tests)."""
    obj = object.__new__(cls)
    object.__setattr__(obj, "__dict__", values)
    return obj


def _str(data: Json, key: str) -> str | None:
    value = data.get(key)
    return None if value is None else str(value)


def _is_map(value: Any) -> TypeGuard[Json]:
    # a dict first: the Mapping ABC check costs several times more, and a listing makes
    # thousands of these checks per page
    return type(value) is dict or isinstance(value, Mapping)


def _obj(data: Json, key: str) -> Json:
    value = data.get(key)
    return value if _is_map(value) else {}


def _list(data: Json, key: str) -> list[Any]:
    value = data.get(key)
    return value if isinstance(value, list) else []


def _texts(values: Any) -> tuple[str, ...]:
    if not values or not isinstance(values, list):
        return ()  # most listings do not select it: no work
    return tuple(str(v) for v in values)


def _strings(data: Json, key: str) -> tuple[str, ...]:
    return _texts(data.get(key))


def _boolean(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _bool(data: Json, key: str) -> bool | None:
    return _boolean(data.get(key))


def _int(data: Json, key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_datetime(value: Any) -> datetime | None:
    """An ``Edm.DateTimeOffset`` (``2026-11-20T09:00:00Z``) as an aware datetime; None if absent
    or unreadable. A value without an offset is taken as UTC, as Graph sends UTC. Graph's 7
    fractional digits ("09:00:00.0000000") need no rewriting: Python 3.11 reads them."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _zone(name: str | None) -> timezone | ZoneInfo | None:
    if not name or name.upper() in ("UTC", "GMT", "Z"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None  # a Windows zone name ("W. Europe Standard Time"): left naive


def format_datetime(value: datetime) -> str:
    """Graph's UTC form of an aware datetime: ``2026-11-20T09:00:00Z``."""
    if value.tzinfo is None:
        raise ConfigError(f"the time {value.isoformat()} has no time zone", field="datetime",
                          advice="pass an aware datetime, e.g. datetime(..., tzinfo=UTC)")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- addresses ---------------------------------------------------------------------------------

_NAMED = re.compile(r"^\s*(?:\"?([^\"<]*?)\"?\s*)?<([^<>\s]+)>\s*$")


@dataclass(frozen=True)
class EmailAddress:
    """A name and an address (Graph's ``recipient``/``emailAddress``).

    Example::

        EmailAddress("bob@contoso.com", "Bob Berg").to_graph()
        # {'emailAddress': {'address': 'bob@contoso.com', 'name': 'Bob Berg'}}
    """

    address: str
    name: str | None = None

    @classmethod
    def from_graph(cls, data: Json) -> EmailAddress:
        """From a ``recipient`` (``{"emailAddress": {...}}``) or an ``emailAddress``."""
        inner = _obj(data, "emailAddress") if "emailAddress" in data else data
        return _read(cls, {"address": _str(inner, "address") or "", "name": _str(inner, "name")})

    @classmethod
    def of(cls, text: str) -> EmailAddress:
        """``"bob@contoso.com"`` or ``"Bob Berg <bob@contoso.com>"`` (no validation here)."""
        m = _NAMED.match(text)
        if m:
            return cls(address=m.group(2), name=(m.group(1) or "").strip() or None)
        return cls(address=text.strip())

    def to_graph(self) -> dict[str, Any]:
        inner = {"address": self.address}
        if self.name:
            inner["name"] = self.name
        return {"emailAddress": inner}

    def __str__(self) -> str:
        # outside senders often carry their address as their name: show it once
        if self.name and self.name.lower() != self.address.lower():
            return f"{self.name} <{self.address}>"
        return self.address


Recipient = EmailAddress
"""Graph's ``recipient``: the same name and address."""


def _addresses(values: Any) -> tuple[EmailAddress, ...]:
    if not values or not isinstance(values, list):
        return ()  # most listings do not select it: no work
    return tuple(EmailAddress.from_graph(r) for r in values if _is_map(r))


def _address(value: Any) -> EmailAddress | None:
    return EmailAddress.from_graph(value) if _is_map(value) else None


def _recipient(data: Json, key: str) -> EmailAddress | None:
    return _address(data.get(key))


# -- times -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventTime:
    """Graph's ``dateTimeTimeZone``: a wall-clock time and the zone it is in.

    Example::

        EventTime(datetime(2026, 12, 1, 9, 0), "Europe/Berlin").to_graph()
    """

    date_time: datetime
    time_zone: str = "UTC"

    @classmethod
    def from_graph(cls, data: Json) -> EventTime | None:
        raw = data.get("dateTime")
        if not isinstance(raw, str):
            return None
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            return None
        return cls(date_time=value.replace(tzinfo=None), time_zone=_str(data, "timeZone") or "UTC")

    @classmethod
    def of(cls, value: datetime, time_zone: str | None = None) -> EventTime:
        """From an aware datetime (its zone name is kept when it is an IANA zone) or a naive
        one with ``time_zone``."""
        if value.tzinfo is None:
            return cls(date_time=value, time_zone=time_zone or "UTC")
        zone = time_zone or getattr(value.tzinfo, "key", None) or "UTC"
        local = value.astimezone(_zone(zone) or UTC)
        return cls(date_time=local.replace(tzinfo=None), time_zone=zone)

    @property
    def aware(self) -> datetime | None:
        """The time as an aware datetime, when the zone is UTC or an IANA name."""
        zone = _zone(self.time_zone)
        return None if zone is None else self.date_time.replace(tzinfo=zone)

    def to_graph(self) -> dict[str, Any]:
        return {"dateTime": self.date_time.strftime("%Y-%m-%dT%H:%M:%S"),
                "timeZone": self.time_zone}


def _aware_time(data: Json, key: str) -> datetime | None:
    t = EventTime.from_graph(_obj(data, key))
    return None if t is None else t.aware


# -- mail --------------------------------------------------------------------------------------

FLAG_STATUSES = ("notFlagged", "flagged", "complete")


@dataclass(frozen=True, slots=True)
class Flag:
    """A follow-up flag: ``status`` is ``notFlagged``, ``flagged`` or ``complete``.

    Example::

        Flag("flagged", due=datetime(2026, 12, 1, tzinfo=UTC)).to_graph()
    """

    status: str = "notFlagged"
    due: datetime | None = None
    start: datetime | None = None
    completed: datetime | None = None

    @classmethod
    def from_graph(cls, data: Json) -> Flag:
        return cls(status=_str(data, "flagStatus") or "notFlagged",
                   due=_aware_time(data, "dueDateTime"),
                   start=_aware_time(data, "startDateTime"),
                   completed=_aware_time(data, "completedDateTime"))

    def to_graph(self) -> dict[str, Any]:
        if self.status not in FLAG_STATUSES:
            raise ConfigError(f"flag status {self.status!r} is not one Graph knows",
                              field="flag", advice=f"use one of {', '.join(FLAG_STATUSES)}")
        out: dict[str, Any] = {"flagStatus": self.status}
        for key, value in (("dueDateTime", self.due), ("startDateTime", self.start),
                           ("completedDateTime", self.completed)):
            if value is not None:
                out[key] = EventTime.of(value.astimezone(UTC), "UTC").to_graph()
        return out


@dataclass(frozen=True, kw_only=True)
class Email:
    """One message. Missing properties (a ``$select`` subset) are None or empty.

    Example::

        e = Email.from_graph(page["value"][0])
        print(e.received, e.from_, e.subject, e.body_text[:80])
    """

    id: str
    subject: str | None = None
    from_: EmailAddress | None = None
    sender: EmailAddress | None = None
    to: tuple[EmailAddress, ...] = ()
    cc: tuple[EmailAddress, ...] = ()
    bcc: tuple[EmailAddress, ...] = ()
    reply_to: tuple[EmailAddress, ...] = ()
    received: datetime | None = None
    sent: datetime | None = None
    body: str | None = field(default=None, repr=False)
    body_type: str | None = None
    body_preview: str | None = field(default=None, repr=False)
    is_read: bool | None = None
    is_draft: bool | None = None
    has_attachments: bool | None = None
    importance: str | None = None
    categories: tuple[str, ...] = ()
    flag: Flag | None = None
    folder_id: str | None = None
    conversation_id: str | None = None
    internet_message_id: str | None = None
    web_link: str | None = field(default=None, repr=False)

    @classmethod
    def from_graph(cls, data: Json) -> Email:
        # a listing turns thousands of these into Emails per second: only the properties
        # present (a $select of five) are looked at, each through its entry in _EMAIL_PROPS
        values: dict[str, Any] = {}
        for key, value in data.items():
            prop = _EMAIL_PROPS.get(key)
            if prop is not None and value is not None:
                values[prop[0]] = prop[1](value)
        body = data.get("body")
        if _is_map(body):
            values["body"] = _str(body, "content")
            values["body_type"] = (_str(body, "contentType") or "").lower() or None
        values["id"] = values.get("id") or ""
        return _read(cls, values)

    @property
    def body_text(self) -> str | None:
        """The body as plain text (an HTML body with its tags dropped)."""
        if self.body is None:
            return None
        return html_to_text(self.body) if self.body_type == "html" else self.body

    @property
    def body_html(self) -> str | None:
        """The HTML body, or None when the body is plain text (or not selected)."""
        return self.body if self.body_type == "html" else None


def _flag(value: Any) -> Flag | None:
    return Flag.from_graph(value) if _is_map(value) else None


# Graph's message property -> (Email field, how its JSON value is read); "body" fills two
# fields and is read in Email.from_graph
_EMAIL_PROPS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "id": ("id", str), "subject": ("subject", str), "from": ("from_", _address),
    "sender": ("sender", _address), "toRecipients": ("to", _addresses),
    "ccRecipients": ("cc", _addresses), "bccRecipients": ("bcc", _addresses),
    "replyTo": ("reply_to", _addresses), "receivedDateTime": ("received", parse_datetime),
    "sentDateTime": ("sent", parse_datetime), "bodyPreview": ("body_preview", str),
    "isRead": ("is_read", _boolean), "isDraft": ("is_draft", _boolean),
    "hasAttachments": ("has_attachments", _boolean), "importance": ("importance", str),
    "categories": ("categories", _texts), "flag": ("flag", _flag),
    "parentFolderId": ("folder_id", str), "conversationId": ("conversation_id", str),
    "internetMessageId": ("internet_message_id", str), "webLink": ("web_link", str),
}


ATTACHMENT_KINDS = {"#microsoft.graph.fileAttachment": "file",
                    "#microsoft.graph.itemAttachment": "item",
                    "#microsoft.graph.referenceAttachment": "reference"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Attachment:
    """A file, item (an attached email or event) or reference (a link) attachment.

    Example::

        a = Attachment.from_graph(item)
        a.kind, a.name, a.size, a.is_inline
    """

    id: str
    kind: str = "file"
    name: str | None = None
    content_type: str | None = None
    size: int | None = None
    is_inline: bool | None = None
    content_id: str | None = None
    last_modified: datetime | None = None
    content: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_graph(cls, data: Json) -> Attachment:
        raw = data.get("contentBytes")
        content = None
        if isinstance(raw, str):
            try:
                content = base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError):
                content = None
        return cls(id=_str(data, "id") or "",
                   kind=ATTACHMENT_KINDS.get(str(data.get("@odata.type") or ""), "file"),
                   name=_str(data, "name"), content_type=_str(data, "contentType"),
                   size=_int(data, "size"), is_inline=_bool(data, "isInline"),
                   content_id=_str(data, "contentId"),
                   last_modified=parse_datetime(data.get("lastModifiedDateTime")),
                   content=content)


@dataclass(frozen=True, slots=True, kw_only=True)
class MailFolder:
    """A mail folder. ``path`` ("Inbox/Sales") and ``well_known_name`` ("inbox") are known
    when the folder was found through them (Graph v1.0 sends neither).

    Example::

        f = session.folders.get("Inbox/Sales")
        f.id, f.display_name, f.unread_count, f.path
    """

    id: str
    display_name: str | None = None
    parent_id: str | None = None
    path: str | None = None
    child_count: int | None = None
    unread_count: int | None = None
    total_count: int | None = None
    is_hidden: bool | None = None
    well_known_name: str | None = None

    @classmethod
    def from_graph(cls, data: Json, *, path: str | None = None,
                   well_known_name: str | None = None) -> MailFolder:
        return cls(id=_str(data, "id") or "", display_name=_str(data, "displayName"),
                   parent_id=_str(data, "parentFolderId"), path=path,
                   child_count=_int(data, "childFolderCount"),
                   unread_count=_int(data, "unreadItemCount"),
                   total_count=_int(data, "totalItemCount"),
                   is_hidden=_bool(data, "isHidden"), well_known_name=well_known_name)


@dataclass(frozen=True, slots=True)
class FolderNode:
    """One folder of a tree listing, with its children (see ``session.folders.tree``)."""

    folder: MailFolder
    children: tuple[FolderNode, ...] = ()

    def walk(self) -> Iterable[MailFolder]:
        """This folder, then every folder below it, depth first."""
        yield self.folder
        for child in self.children:
            yield from child.walk()


# -- calendar ----------------------------------------------------------------------------------

ATTENDEE_TYPES = ("required", "optional", "resource")


@dataclass(frozen=True, slots=True)
class Attendee:
    """An event attendee: address, ``type`` (required/optional/resource) and their answer
    (``response``: none, organizer, tentativelyAccepted, accepted, declined, notResponded).

    Example::

        Attendee(EmailAddress("bob@contoso.com"), "optional").to_graph()
    """

    email: EmailAddress
    type: str = "required"
    response: str | None = None
    response_time: datetime | None = None

    @classmethod
    def from_graph(cls, data: Json) -> Attendee:
        status = _obj(data, "status")
        return cls(email=EmailAddress.from_graph(data), type=_str(data, "type") or "required",
                   response=_str(status, "response"),
                   response_time=parse_datetime(status.get("time")))

    def to_graph(self) -> dict[str, Any]:
        if self.type not in ATTENDEE_TYPES:
            raise ConfigError(f"attendee type {self.type!r} is not one Graph knows",
                              field="attendees", advice=f"use one of {', '.join(ATTENDEE_TYPES)}")
        return {**self.email.to_graph(), "type": self.type}


DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
PATTERNS = ("daily", "weekly", "absoluteMonthly", "relativeMonthly", "absoluteYearly",
            "relativeYearly")


@dataclass(frozen=True, slots=True, kw_only=True)
class Recurrence:
    """A recurrence (Graph's ``patternedRecurrence``): daily, weekly or monthly every
    ``interval``, ending on ``end`` (a date), after ``count`` occurrences, or never.

    Example::

        Recurrence.daily(start=date(2026, 12, 1), count=5)
        Recurrence.weekly(days=("monday", "thursday"), start=date(2026, 12, 1),
                          end=date(2027, 3, 1))
        Recurrence.monthly(day=15, start=date(2026, 12, 15), interval=2, count=6)
    """

    pattern: str
    start: date
    interval: int = 1
    days_of_week: tuple[str, ...] = ()
    day_of_month: int | None = None
    first_day_of_week: str | None = None
    index: str | None = None
    end: date | None = None
    count: int | None = None
    time_zone: str | None = None

    @classmethod
    def daily(cls, *, start: date, interval: int = 1, end: date | None = None,
              count: int | None = None) -> Recurrence:
        return cls(pattern="daily", start=start, interval=interval, end=end,
                   count=count).checked()

    @classmethod
    def weekly(cls, *, days: Iterable[str], start: date, interval: int = 1,
               end: date | None = None, count: int | None = None) -> Recurrence:
        return cls(pattern="weekly", start=start, interval=interval,
                   days_of_week=tuple(d.lower() for d in days), end=end, count=count).checked()

    @classmethod
    def monthly(cls, *, day: int, start: date, interval: int = 1, end: date | None = None,
                count: int | None = None) -> Recurrence:
        return cls(pattern="absoluteMonthly", start=start, interval=interval, day_of_month=day,
                   end=end, count=count).checked()

    def checked(self) -> Recurrence:
        """Itself, or ConfigError naming the field that Graph would refuse."""
        def bad(what: str, advice: str) -> ConfigError:
            return ConfigError(f"recurrence: {what}", field="recurrence", advice=advice)

        if self.pattern not in PATTERNS:
            raise bad(f"pattern {self.pattern!r} is unknown", f"use one of {', '.join(PATTERNS)}")
        if not isinstance(self.interval, int) or self.interval < 1:
            raise bad(f"interval {self.interval!r} is not a positive number", "use 1 or more")
        if self.end is not None and self.count is not None:
            raise bad("both an end date and a count were given", "give one of end or count")
        if self.count is not None and self.count < 1:
            raise bad(f"count {self.count} is not a positive number", "use 1 or more")
        if self.end is not None and self.end < self.start:
            raise bad(f"the end date {self.end} is before the start {self.start}",
                      "give an end date on or after the start date")
        if self.pattern == "weekly" and not self.days_of_week:
            raise bad("a weekly series needs the days of the week it falls on",
                      "give days such as ('monday', 'thursday') (on the command line: "
                      "--days monday,thursday)")
        if any(d not in DAYS for d in self.days_of_week):
            raise bad(f"days of week {list(self.days_of_week)} are not valid",
                      f"give one or more of {', '.join(DAYS)}")
        if self.pattern == "absoluteMonthly" and not 1 <= (self.day_of_month or 0) <= 31:
            raise bad(f"day of month {self.day_of_month!r} is not 1-31", "use a day from 1 to 31")
        return self

    @classmethod
    def from_graph(cls, data: Json) -> Recurrence | None:
        pattern, rng = _obj(data, "pattern"), _obj(data, "range")
        start = _date(rng.get("startDate"))
        if not pattern or start is None:
            return None
        kind = _str(rng, "type")
        count = _int(rng, "numberOfOccurrences")
        return cls(pattern=_str(pattern, "type") or "daily", start=start,
                   interval=_int(pattern, "interval") or 1,
                   days_of_week=tuple(str(d) for d in _list(pattern, "daysOfWeek")),
                   day_of_month=_int(pattern, "dayOfMonth") or None,
                   first_day_of_week=_str(pattern, "firstDayOfWeek"),
                   index=_str(pattern, "index"),
                   end=_date(rng.get("endDate")) if kind == "endDate" else None,
                   count=count if kind == "numbered" else None,
                   time_zone=_str(rng, "recurrenceTimeZone"))

    def to_graph(self) -> dict[str, Any]:
        self.checked()
        pattern: dict[str, Any] = {"type": self.pattern, "interval": self.interval}
        if self.days_of_week:
            pattern["daysOfWeek"] = list(self.days_of_week)
        if self.day_of_month is not None:
            pattern["dayOfMonth"] = self.day_of_month
        if self.first_day_of_week:
            pattern["firstDayOfWeek"] = self.first_day_of_week
        if self.index:
            pattern["index"] = self.index
        rng: dict[str, Any] = {"startDate": self.start.isoformat()}
        if self.end is not None:
            rng.update(type="endDate", endDate=self.end.isoformat())
        elif self.count is not None:
            rng.update(type="numbered", numberOfOccurrences=self.count)
        else:
            rng["type"] = "noEnd"
        if self.time_zone:
            rng["recurrenceTimeZone"] = self.time_zone
        return {"pattern": pattern, "range": rng}


def _date(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """A calendar event. Build one to create it (``id`` stays empty), or read one with
    :meth:`from_graph`.

    Example::

        Event(subject="Review", start=EventTime(datetime(2026, 12, 1, 9), "UTC"),
              end=EventTime(datetime(2026, 12, 1, 10), "UTC"),
              attendees=(Attendee(EmailAddress("bob@contoso.com")),),
              is_online_meeting=True).to_graph()
    """

    id: str = ""
    subject: str | None = None
    start: EventTime | None = None
    end: EventTime | None = None
    is_all_day: bool | None = None
    location: str | None = None
    attendees: tuple[Attendee, ...] = ()
    organizer: EmailAddress | None = None
    is_online_meeting: bool | None = None
    online_meeting_url: str | None = None
    recurrence: Recurrence | None = None
    body: str | None = field(default=None, repr=False)
    body_type: str | None = None
    show_as: str | None = None
    response_status: str | None = None
    importance: str | None = None
    categories: tuple[str, ...] = ()
    is_cancelled: bool | None = None
    series_master_id: str | None = None
    type: str | None = None
    web_link: str | None = field(default=None, repr=False)

    @classmethod
    def from_graph(cls, data: Json) -> Event:
        body = _obj(data, "body")
        meeting = _obj(data, "onlineMeeting")
        recurrence = data.get("recurrence")
        join_url = _str(meeting, "joinUrl")
        meeting_url = _str(data, "onlineMeetingUrl")
        return cls(
            id=_str(data, "id") or "",
            subject=_str(data, "subject"),
            start=EventTime.from_graph(_obj(data, "start")),
            end=EventTime.from_graph(_obj(data, "end")),
            is_all_day=_bool(data, "isAllDay"),
            location=_str(_obj(data, "location"), "displayName"),
            attendees=tuple(Attendee.from_graph(a) for a in _list(data, "attendees")
                            if isinstance(a, Mapping)),
            organizer=_recipient(data, "organizer"),
            is_online_meeting=_bool(data, "isOnlineMeeting"),
            online_meeting_url=join_url or meeting_url,
            recurrence=Recurrence.from_graph(recurrence)
            if isinstance(recurrence, Mapping) else None,
            body=_str(body, "content"),
            body_type=(_str(body, "contentType") or "").lower() or None,
            show_as=_str(data, "showAs"),
            response_status=_str(_obj(data, "responseStatus"), "response"),
            importance=_str(data, "importance"),
            categories=_strings(data, "categories"),
            is_cancelled=_bool(data, "isCancelled"),
            series_master_id=_str(data, "seriesMasterId"),
            type=_str(data, "type"),
            web_link=_str(data, "webLink"),
        )

    def to_graph(self) -> dict[str, Any]:
        """The writable properties that are set (for POST .../events or PATCH)."""
        out: dict[str, Any] = {}
        if self.subject is not None:
            out["subject"] = self.subject
        if self.start is not None:
            out["start"] = self.start.to_graph()
        if self.end is not None:
            out["end"] = self.end.to_graph()
        if self.is_all_day is not None:
            out["isAllDay"] = self.is_all_day
        if self.location is not None:
            out["location"] = {"displayName": self.location}
        if self.attendees:
            out["attendees"] = [a.to_graph() for a in self.attendees]
        if self.is_online_meeting is not None:
            out["isOnlineMeeting"] = self.is_online_meeting
        if self.recurrence is not None:
            out["recurrence"] = self.recurrence.to_graph()
        if self.body is not None:
            out["body"] = {"contentType": self.body_type or "text", "content": self.body}
        if self.show_as is not None:
            out["showAs"] = self.show_as
        if self.importance is not None:
            out["importance"] = self.importance
        if self.categories:
            out["categories"] = list(self.categories)
        return out


# -- bulk --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Result:
    """The outcome for one item of a bulk action: ``ok``, the HTTP ``status`` (0 when no
    answer came), Graph's error ``code`` and ``message``, ``new_id`` (move/copy), ``path``
    (a saved file) and ``skipped`` (done by an earlier run of the same bulk job: not redone).

    Example::

        for r in session.mail.move_all(...):
            if not r.ok:
                print(r.item_id, r.code, r.message)
    """

    item_id: str
    ok: bool
    status: int = 0
    code: str | None = None
    message: str | None = None
    new_id: str | None = None
    path: str | None = None
    skipped: bool = False

    @classmethod
    def from_graph(cls, item_id: str, status: int, body: Any) -> Result:
        """From one answer (a ``$batch`` item's status and body)."""
        if status < 400:
            new_id = _str(body, "id") if isinstance(body, Mapping) else None
            return cls(item_id=item_id, ok=True, status=status, new_id=new_id)
        error = _obj(body, "error") if isinstance(body, Mapping) else {}
        return cls(item_id=item_id, ok=False, status=status,
                   code=_str(error, "code") or f"HTTP{status}", message=_str(error, "message"))


SENT = "sent"
NOT_SENT = "not sent"
UNKNOWN = "unknown: check Sent Items"


@dataclass(frozen=True, slots=True, kw_only=True)
class SendResult:
    """What became of a send, reply, reply all or forward: ``status`` is ``"sent"``,
    ``"not sent"`` or ``"unknown: check Sent Items"`` (never a silent duplicate);
    ``internet_message_id`` finds the message in Sent Items or at the recipient;
    ``mailbox`` sent it; ``attempts`` counts the send requests; ``skipped`` lists attachment
    files left out because they were missing; ``reason`` says why when not plainly sent.

    Example::

        r = session.mail.send(to="bob@contoso.com", subject="Hi", body="Hello")
        print(r.status, r.internet_message_id)
    """

    status: str
    mailbox: str
    internet_message_id: str
    draft_id: str | None = None
    attempts: int = 0
    skipped: tuple[str, ...] = ()
    reason: str | None = None

    @property
    def ok(self) -> bool:
        """True when the message went out (exactly once)."""
        return self.status == SENT


__all__ = ["NOT_SENT", "SENT", "UNKNOWN", "Attachment", "Attendee", "Email", "EmailAddress",
           "Event", "EventTime", "Flag", "FolderNode", "MailFolder", "Recipient", "Recurrence",
           "Result", "SendResult", "format_datetime", "html_to_text", "parse_datetime"]

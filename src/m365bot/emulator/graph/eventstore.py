"""Calendar events for the Graph emulator: creating and patching the stored Graph shape,
rendering it in the caller's time zone, expanding series into occurrences, and the small
``$filter``/``$orderby`` language clients use on ``/events``.

No I/O. ``events.py`` wires these to routes.

Example::

    props = new_event(body, organizer=box, now=clock.now())    # validated Graph shape
    view = render(props, event_id, zone="Pacific Standard Time")
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from m365bot.emulator.graph import caltime
from m365bot.emulator.graph.attachstore import iso
from m365bot.emulator.graph.errors import GraphHTTPError, bad_request
from m365bot.emulator.state import Event, Mailbox

WRITABLE = {
    "subject", "body", "start", "end", "isAllDay", "showAs", "location", "locations",
    "attendees", "recurrence", "categories", "importance", "sensitivity", "isOnlineMeeting",
    "reminderMinutesBeforeStart", "isReminderOn", "responseRequested", "allowNewTimeProposals",
    "hideAttendees", "onlineMeetingProvider", "transactionId", "originalStartTimeZone",
    "originalEndTimeZone",
}
ENUMS = {
    "showAs": ("free", "tentative", "busy", "oof", "workingelsewhere", "unknown"),
    "importance": ("low", "normal", "high"),
    "sensitivity": ("normal", "personal", "private", "confidential"),
}
_CANON = {"workingelsewhere": "workingElsewhere"}


def new_event_id() -> str:
    return "AAMkAGE" + uuid.uuid4().hex + uuid.uuid4().hex[:16] + "AAA="


def time_error(exc: caltime.TimeError) -> GraphHTTPError:
    """Graph's 400 for a bad date-time or an unknown zone."""
    if isinstance(exc, caltime.ZoneError):
        return GraphHTTPError(400, "TimeZoneNotSupportedException", exc.message)
    return bad_request(exc.message)


def _address(value: Any, field: str) -> dict[str, Any]:
    ea = value.get("emailAddress") if isinstance(value, dict) else None
    if not isinstance(ea, dict) or not isinstance(ea.get("address"), str) or "@" not in ea[
        "address"
    ]:
        raise bad_request(f"'{field}' needs emailAddress.address, e.g. "
                          '{"emailAddress": {"address": "bob@contoso.com"}}.')
    return {"name": str(ea.get("name") or ea["address"]), "address": ea["address"]}


def _validate(patch: dict[str, Any]) -> dict[str, Any]:
    """Normalise a create/PATCH body; BadRequest naming the bad property."""
    if not isinstance(patch, dict):
        raise bad_request("The request body must be a JSON object describing an event.")
    out: dict[str, Any] = {}
    for key, value in patch.items():
        if key.startswith("@odata"):
            continue
        if key not in WRITABLE:
            raise bad_request(f"The property '{key}' does not exist on type "
                              "'microsoft.graph.event' or is read-only.")
        if key in ENUMS and value is not None:
            if not isinstance(value, str) or value.lower() not in ENUMS[key]:
                raise bad_request(f"'{key}' must be one of {', '.join(ENUMS[key])}.")
            value = _CANON.get(value.lower(), value.lower())
        elif key in ("subject", "transactionId") and value is not None:
            if not isinstance(value, str):
                raise bad_request(f"The property '{key}' must be a string.")
        elif key == "body" and value is not None:
            if not isinstance(value, dict) or not isinstance(value.get("content", ""), str):
                raise bad_request("'body' must be {\"contentType\": \"text\"|\"html\", "
                                  "\"content\": \"...\"}.")
            ctype = str(value.get("contentType", "text")).lower()
            if ctype not in ("text", "html"):
                raise bad_request("'body.contentType' must be text or html.")
            value = {"contentType": ctype, "content": value.get("content", "")}
        elif key in ("start", "end"):
            try:
                caltime.from_graph(value, key)
            except caltime.TimeError as exc:
                raise time_error(exc) from exc
            value = {"dateTime": value["dateTime"], "timeZone": value.get("timeZone") or "UTC"}
        elif key == "attendees":
            if not isinstance(value, list):
                raise bad_request("'attendees' must be a list.")
            value = [{"type": str(a.get("type") or "required").lower()
                      if isinstance(a, dict) else "required",
                      "status": {"response": "none", "time": "0001-01-01T00:00:00Z"},
                      "emailAddress": _address(a, "attendees")} for a in value]
        elif key == "recurrence":
            try:
                caltime.validate_recurrence(value)
            except caltime.TimeError as exc:
                raise bad_request(f"{exc.field}: {exc.message}") from exc
        elif key in ("isAllDay", "isOnlineMeeting", "isReminderOn", "responseRequested",
                     "allowNewTimeProposals", "hideAttendees"):
            if not isinstance(value, bool):
                raise bad_request(f"The property '{key}' must be true or false.")
        elif key == "reminderMinutesBeforeStart" and (
            isinstance(value, bool) or not isinstance(value, int)
        ):
            raise bad_request("'reminderMinutesBeforeStart' must be a whole number.")
        elif key == "location" and value is not None:
            if not isinstance(value, dict) or not isinstance(value.get("displayName", ""), str):
                raise bad_request("'location' must be {\"displayName\": \"...\"}.")
            value = {"displayName": value.get("displayName", ""),
                     "locationType": str(value.get("locationType") or "default"), **value}
        elif key == "locations" and (
            not isinstance(value, list) or not all(isinstance(v, dict) for v in value)
        ):
            raise bad_request("'locations' must be a list of location objects.")
        elif key == "categories" and (
            not isinstance(value, list) or not all(isinstance(c, str) for c in value)
        ):
            raise bad_request("'categories' must be a list of strings.")
        out[key] = value
    return out


def _check_order(props: dict[str, Any]) -> None:
    try:
        start = caltime.from_graph(props["start"], "start")
        end = caltime.from_graph(props["end"], "end")
    except caltime.TimeError as exc:
        raise bad_request(exc.message) from exc
    if end < start:
        raise GraphHTTPError(400, "ErrorInvalidRequest",
                             "The end time of the event must be after its start time.")


def new_event(body: Any, organizer: Mailbox, now: float) -> dict[str, Any]:
    """The stored props of a new event (the caller is the organizer)."""
    fields = _validate(body)
    for required in ("start", "end"):
        if required not in fields:
            raise bad_request(f"The property '{required}' is required to create an event, "
                              'e.g. {"dateTime": "2026-11-27T09:00:00", "timeZone": "UTC"}.')
    stamp = iso(now)
    props: dict[str, Any] = {
        "createdDateTime": stamp, "lastModifiedDateTime": stamp,
        "changeKey": uuid.uuid4().hex[:22], "categories": [],
        "transactionId": None, "originalStartTimeZone": fields["start"]["timeZone"],
        "originalEndTimeZone": fields["end"]["timeZone"], "iCalUId": "040000008200E0" +
        uuid.uuid4().hex.upper(), "reminderMinutesBeforeStart": 15, "isReminderOn": True,
        "hasAttachments": False, "subject": "", "importance": "normal", "sensitivity": "normal",
        "isAllDay": False, "isCancelled": False, "isOrganizer": True, "responseRequested": True,
        "seriesMasterId": None, "showAs": "busy", "type": "singleInstance",
        "webLink": "", "onlineMeetingUrl": None, "isOnlineMeeting": False,
        "allowNewTimeProposals": True,
        "responseStatus": {"response": "organizer", "time": "0001-01-01T00:00:00Z"},
        "body": {"contentType": "html", "content": ""},
        "location": {"displayName": "", "locationType": "default"}, "locations": [],
        "recurrence": None, "attendees": [],
        "organizer": {"emailAddress": {"name": organizer.display_name,
                                       "address": organizer.address}},
    }
    props.update(fields)
    if props.get("recurrence"):
        props["type"] = "seriesMaster"
    _check_order(props)
    props["bodyPreview"] = re.sub(r"<[^>]+>", "", props["body"]["content"])[:255]
    return props


def same_transaction(events: Iterable[Event], props: dict[str, Any]) -> Event | None:
    """The event already created with ``props``' ``transactionId`` (Graph's de-duplication of
    a retried create: learn.microsoft.com/graph/api/resources/event, ``transactionId``), or
    None; 400 ``ErrorDuplicateTransactionId`` when that id made a different event."""
    tid = props.get("transactionId")
    if not tid:
        return None
    for event in events:
        if event.props.get("transactionId") == tid:
            if all(event.props.get(k) == props.get(k) for k in ("subject", "start", "end")):
                return event
            raise GraphHTTPError(400, "ErrorDuplicateTransactionId",
                                 "Your request can't be completed. The TransactionId specified "
                                 "in the request has already been used to create a different "
                                 "event.")
    return None


def apply_patch(props: dict[str, Any], body: Any, now: float) -> None:
    """PATCH an event in place (validated first, all-or-nothing)."""
    fields = _validate(body)
    trial = {**props, **fields}
    _check_order(trial)
    if "recurrence" in fields:
        trial["type"] = "seriesMaster" if fields["recurrence"] else "singleInstance"
    if "body" in fields:
        trial["bodyPreview"] = re.sub(r"<[^>]+>", "", trial["body"]["content"])[:255]
    trial["lastModifiedDateTime"] = iso(now)
    trial["changeKey"] = uuid.uuid4().hex[:22]
    props.clear()
    props.update(trial)


def bounds(props: dict[str, Any]) -> tuple[datetime, datetime]:
    return caltime.from_graph(props["start"], "start"), caltime.from_graph(props["end"], "end")


def render(props: dict[str, Any], event_id: str, zone: str | None) -> dict[str, Any]:
    """The event as Graph returns it, start/end in ``zone`` (UTC by default)."""
    out: dict[str, Any] = {"@odata.etag": f'W/"{props.get("changeKey", "")}"', "id": event_id}
    out.update(props)
    start, end = bounds(props)
    out["start"] = caltime.render(start, zone)
    out["end"] = caltime.render(end, zone)
    return out


OCC_SEP = "_OCC"


def occurrence_id(master_id: str, start: datetime) -> str:
    u = start.astimezone(UTC)
    return (f"{master_id}{OCC_SEP}{u.year:04d}{u.month:02d}{u.day:02d}T{u.hour:02d}"
            f"{u.minute:02d}{u.second:02d}")


def expand(event: Event, window_start: datetime, window_end: datetime
           ) -> list[tuple[str, dict[str, Any]]]:
    """(id, props) of the instances of ``event`` overlapping the window."""
    start, end = bounds(event.props)
    rec = event.props.get("recurrence")
    if not rec:
        return [(event.id, event.props)] if start < window_end and end > window_start else []
    out = []
    for occ_start, occ_end in caltime.occurrences(rec, start, end, window_end):
        if occ_end <= window_start:
            continue
        props = {**event.props, "type": "occurrence", "seriesMasterId": event.id,
                 "recurrence": None,
                 "start": {"dateTime": caltime.fmt(occ_start),
                           "timeZone": event.props["start"]["timeZone"]},
                 "end": {"dateTime": caltime.fmt(occ_end),
                         "timeZone": event.props["end"]["timeZone"]}}
        out.append((occurrence_id(event.id, occ_start), props))
    return out


def find_occurrence(box: Mailbox, occ_id: str) -> tuple[str, dict[str, Any]] | None:
    master_id, _, stamp = occ_id.partition(OCC_SEP)
    master = box.events.get(master_id)
    if master is None or not stamp:
        return None
    try:
        when = datetime.strptime(stamp, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    for oid, props in expand(master, when, when + timedelta(days=1)):
        if oid == occ_id:
            return oid, props
    return None


# --- $filter / $orderby on /events ---------------------------------------------------------

_CLAUSE = re.compile(
    r"^\s*(?:(?P<fn>contains|startswith)\(\s*(?P<fprop>[\w/]+)\s*,\s*'(?P<fval>(?:[^']|'')*)'\s*\)"
    r"|(?P<prop>[\w/]+)\s+(?P<op>eq|ne|gt|ge|lt|le)\s+(?P<val>'(?:[^']|'')*'|true|false|"
    r"[\d:.TZ+-]+))\s*$",
    re.IGNORECASE,
)
_PROPS = ("start/datetime", "end/datetime", "subject", "isallday", "showas", "importance",
          "type", "iscancelled", "isorganizer")


def _value(props: dict[str, Any], prop: str) -> Any:
    if prop in ("start/datetime", "end/datetime"):
        return bounds(props)[0 if prop.startswith("start") else 1]
    key = {"isallday": "isAllDay", "showas": "showAs", "iscancelled": "isCancelled",
           "isorganizer": "isOrganizer"}.get(prop, prop)
    return props.get(key)


def compile_filter(text: str) -> Callable[[dict[str, Any]], bool]:
    """A predicate for ``$filter``; 400 BadRequest naming what is unsupported."""
    tests: list[Callable[[dict[str, Any]], bool]] = []
    for raw in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        m = _CLAUSE.match(raw)
        if m is None:
            raise bad_request(f"Invalid filter clause: '{raw}'. Supported: start/dateTime and "
                              "end/dateTime comparisons, subject eq/contains/startswith, and "
                              "clauses joined by 'and'.")
        if m.group("fn"):
            prop, fn = m.group("fprop").lower(), m.group("fn").lower()
            needle = m.group("fval").replace("''", "'").lower()
            if prop != "subject":
                raise bad_request(f"Invalid filter clause: {fn}() supports only subject.")
            tests.append(_text_test(fn, needle))
            continue
        prop, op, val = m.group("prop").lower(), m.group("op").lower(), m.group("val")
        if prop not in _PROPS:
            raise bad_request(f"Invalid filter clause: property '{m.group('prop')}' is not "
                              "filterable on events.")
        tests.append(_compare_test(prop, op, val))
    return lambda props: all(t(props) for t in tests)


def _text_test(fn: str, needle: str) -> Callable[[dict[str, Any]], bool]:
    def test(props: dict[str, Any]) -> bool:
        subject = str(props.get("subject") or "").lower()
        return needle in subject if fn == "contains" else subject.startswith(needle)

    return test


def _compare_test(prop: str, op: str, raw: str) -> Callable[[dict[str, Any]], bool]:
    target: Any
    if raw.startswith("'"):
        target = raw[1:-1].replace("''", "'")
    elif raw.lower() in ("true", "false"):
        target = raw.lower() == "true"
    else:
        target = raw
    if prop.endswith("/datetime"):
        try:
            target = caltime.parse_iso(str(target), "$filter")
        except caltime.TimeError as exc:
            raise bad_request(f"Invalid filter clause: {exc.message}") from exc
    elif isinstance(target, str) and prop != "subject":
        target = target.lower()

    def test(props: dict[str, Any]) -> bool:
        value = _value(props, prop)
        if isinstance(value, str) and prop != "subject":
            value = value.lower()
        try:
            return bool({"eq": value == target, "ne": value != target,
                         "gt": value > target, "ge": value >= target,
                         "lt": value < target, "le": value <= target}[op])
        except TypeError:
            return False

    return test


def sort_key(orderby: str | None) -> tuple[Callable[[tuple[str, dict[str, Any]]], Any], bool]:
    """(key, reverse) for ``$orderby`` (start/dateTime, end/dateTime, subject)."""
    if not orderby:
        return (lambda item: bounds(item[1])[0]), False
    parts = orderby.split(",")[0].strip().split()
    prop = parts[0].lower()
    reverse = len(parts) > 1 and parts[1].lower() == "desc"
    if len(parts) > 2 or (len(parts) == 2 and parts[1].lower() not in ("asc", "desc")):
        raise bad_request(f"Invalid $orderby value '{orderby}'.")
    if prop in ("start/datetime", "end/datetime"):
        index = 0 if prop.startswith("start") else 1
        return (lambda item: bounds(item[1])[index]), reverse
    if prop in ("subject", "createddatetime", "lastmodifieddatetime"):
        key = {"subject": "subject", "createddatetime": "createdDateTime",
               "lastmodifieddatetime": "lastModifiedDateTime"}[prop]
        return (lambda item: str(item[1].get(key) or "")), reverse
    raise bad_request(f"Invalid $orderby value '{orderby}': events sort by start/dateTime, "
                      "end/dateTime, subject, createdDateTime or lastModifiedDateTime.")

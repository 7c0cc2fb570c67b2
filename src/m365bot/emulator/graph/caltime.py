"""Calendar time for the Graph emulator: Graph's ``{dateTime, timeZone}`` values, the
``Prefer: outlook.timezone`` header, calendarView's range parameters and the expansion of
simple recurrences into occurrences.

No I/O. Times are handled as aware ``datetime`` objects; Graph's wire format is
``2026-11-27T09:00:00.0000000`` plus a zone name (IANA or Windows).

Example::

    start = parse_range_param("2026-11-27T00:00:00+01:00")    # aware, UTC if no offset
    zone = zone_of("Pacific Standard Time")                    # ZoneInfo("America/Los_Angeles")
    render(start, "Pacific Standard Time")                     # {"dateTime": ..., "timeZone": ...}
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Windows time zone names Outlook uses, for the zones bots most often meet.
WINDOWS_ZONES: dict[str, str] = {
    "utc": "UTC",
    "coordinated universal time": "UTC",
    "greenwich standard time": "Atlantic/Reykjavik",
    "gmt standard time": "Europe/London",
    "w. europe standard time": "Europe/Berlin",
    "romance standard time": "Europe/Paris",
    "central europe standard time": "Europe/Budapest",
    "central european standard time": "Europe/Warsaw",
    "e. europe standard time": "Europe/Chisinau",
    "fle standard time": "Europe/Kiev",
    "russian standard time": "Europe/Moscow",
    "eastern standard time": "America/New_York",
    "central standard time": "America/Chicago",
    "mountain standard time": "America/Denver",
    "us mountain standard time": "America/Phoenix",
    "pacific standard time": "America/Los_Angeles",
    "alaskan standard time": "America/Anchorage",
    "hawaiian standard time": "Pacific/Honolulu",
    "atlantic standard time": "America/Halifax",
    "e. south america standard time": "America/Sao_Paulo",
    "india standard time": "Asia/Kolkata",
    "china standard time": "Asia/Shanghai",
    "tokyo standard time": "Asia/Tokyo",
    "korea standard time": "Asia/Seoul",
    "singapore standard time": "Asia/Singapore",
    "arabian standard time": "Asia/Dubai",
    "aus eastern standard time": "Australia/Sydney",
    "new zealand standard time": "Pacific/Auckland",
}

MIN_YEAR, MAX_YEAR = 1601, 4500  # Outlook's calendar range
_DATE_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?$"
)


class TimeError(ValueError):
    """An unparsable date-time or unknown zone; ``field`` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class ZoneError(TimeError):
    """An unknown time zone name; ``zone`` is the name as given."""

    def __init__(self, zone: str) -> None:
        super().__init__("timeZone", "A valid TimeZone value must be specified. The following "
                                     f"TimeZone value is not supported: '{zone}'.")
        self.zone = zone


@lru_cache(maxsize=256)
def zone_of(name: str | None) -> tzinfo:
    """The zone a Graph ``timeZone`` value names (IANA or Windows); :class:`TimeError` if
    unknown.

    Example::

        zone_of("Eastern Standard Time")   # ZoneInfo("America/New_York")
    """
    if not name:
        return UTC
    key = name.strip().strip('"')
    mapped = WINDOWS_ZONES.get(key.lower())
    if mapped is not None:
        key = mapped
    if key.upper() in ("UTC", "Z", "GMT", "ETC/UTC"):
        return UTC
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ZoneError(name) from exc


def parse_iso(text: str, field: str, default_zone: tzinfo = UTC) -> datetime:
    """Parse an ISO 8601 date-time; an explicit offset wins, otherwise ``default_zone``."""
    m = _DATE_RE.match(text.strip()) if isinstance(text, str) else None
    if m is None:
        raise TimeError(field, f"The value '{text}' of parameter '{field}' is not a valid "
                               "ISO 8601 date-time.")
    y, mo, d, hh, mi, ss, frac, off = m.groups()
    if not MIN_YEAR <= int(y) <= MAX_YEAR:
        raise TimeError(field, f"The value '{text}' of parameter '{field}' is out of range "
                               f"(years {MIN_YEAR} to {MAX_YEAR}).")
    try:
        micro = int((frac or "0")[:6].ljust(6, "0"))
        naive = datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0), micro)
    except ValueError as exc:
        raise TimeError(field, f"The value '{text}' of parameter '{field}' is out of range.") \
            from exc
    if off is None:
        return naive.replace(tzinfo=default_zone)
    if off == "Z":
        return naive.replace(tzinfo=UTC)
    sign = 1 if off[0] == "+" else -1
    digits = off[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return naive.replace(tzinfo=timezone(sign * delta))


def parse_range_param(text: str, field: str) -> datetime:
    """A calendarView ``startDateTime``/``endDateTime``: no offset means UTC.

    Example::

        parse_range_param("2027-01-01T09:00:00+02:00", "startDateTime")  # 07:00 UTC
    """
    return parse_iso(text, field, UTC)


def from_graph(value: Any, field: str) -> datetime:
    """An aware datetime from Graph's ``{"dateTime": ..., "timeZone": ...}``."""
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        raise TimeError(field, f"'{field}' must be an object with dateTime and timeZone.")
    tz = value.get("timeZone")
    if tz is not None and not isinstance(tz, str):
        raise TimeError(field, f"'{field}.timeZone' must be a string.")
    return _from_graph_cached(value["dateTime"], tz, field)


@lru_cache(maxsize=8192)
def _from_graph_cached(text: str, tz: str | None, field: str) -> datetime:
    # Pure in its arguments (aware datetimes are immutable): calendarView re-reads the same
    # start/end strings many times per page.
    return parse_iso(text, f"{field}.dateTime", zone_of(tz))


def fmt(dt: datetime) -> str:
    """Graph's wire format: seven fractional digits, no offset."""
    # f-string, not strftime: a year of occurrences formats ~1,500 of these per page.
    return (f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:"
            f"{dt.second:02d}.{dt.microsecond:06d}0")


def render(dt: datetime, zone_name: str | None) -> dict[str, str]:
    """``{"dateTime","timeZone"}`` in the zone ``zone_name`` (UTC when None)."""
    name = zone_name or "UTC"
    local = dt.astimezone(zone_of(name))
    return {"dateTime": fmt(local), "timeZone": name}


def prefer_timezone(prefer_header: str | None) -> str | None:
    """The zone named by ``Prefer: outlook.timezone="..."``, if any (validated)."""
    if not prefer_header:
        return None
    m = re.search(r'outlook\.timezone\s*=\s*"([^"]*)"', prefer_header, re.IGNORECASE)
    if m is None:
        m = re.search(r"outlook\.timezone\s*=\s*([^,;\s]+)", prefer_header, re.IGNORECASE)
    if m is None:
        return None
    name = m.group(1).strip()
    zone_of(name)
    return name


# --- recurrence ---------------------------------------------------------------------------

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MAX_OCCURRENCES = 5000


def validate_recurrence(rec: Any) -> None:
    """Raise :class:`TimeError` naming the bad field of a ``patternedRecurrence``."""
    if rec is None:
        return
    if not isinstance(rec, dict):
        raise TimeError("recurrence", "'recurrence' must be an object with pattern and range.")
    pattern, rng = rec.get("pattern"), rec.get("range")
    if not isinstance(pattern, dict) or not isinstance(rng, dict):
        raise TimeError("recurrence", "'recurrence' needs both 'pattern' and 'range' objects.")
    ptype = str(pattern.get("type", "")).lower()
    if ptype not in ("daily", "weekly", "absolutemonthly"):
        raise TimeError("recurrence.pattern.type",
                        "Supported recurrence pattern types: daily, weekly, absoluteMonthly.")
    interval = pattern.get("interval", 1)
    if isinstance(interval, bool) or not isinstance(interval, int) or not 1 <= interval <= 999:
        raise TimeError("recurrence.pattern.interval", "'interval' must be a whole number >= 1.")
    if ptype == "weekly":
        days = pattern.get("daysOfWeek")
        if not isinstance(days, list) or not days or any(
            str(d).lower() not in _WEEKDAYS for d in days
        ):
            raise TimeError("recurrence.pattern.daysOfWeek",
                            "A weekly pattern needs daysOfWeek, e.g. [\"monday\"].")
    if ptype == "absolutemonthly":
        dom = pattern.get("dayOfMonth")
        if isinstance(dom, bool) or not isinstance(dom, int) or not 1 <= dom <= 31:
            raise TimeError("recurrence.pattern.dayOfMonth",
                            "An absoluteMonthly pattern needs dayOfMonth from 1 to 31.")
    rtype = str(rng.get("type", "")).lower()
    if rtype not in ("numbered", "enddate", "noend"):
        raise TimeError("recurrence.range.type", "Range type must be numbered, endDate or noEnd.")
    try:
        first = date.fromisoformat(str(rng.get("startDate")))
        last = date.fromisoformat(str(rng.get("endDate"))) if rtype == "enddate" else first
    except ValueError as exc:
        raise TimeError("recurrence.range", "startDate/endDate must be YYYY-MM-DD.") from exc
    if last < first or not MIN_YEAR <= first.year <= MAX_YEAR or last.year > MAX_YEAR:
        raise TimeError("recurrence.range.endDate",
                        "endDate must not be before startDate, within years 1601 to 4500.")
    if rtype == "numbered":
        n = rng.get("numberOfOccurrences")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise TimeError("recurrence.range.numberOfOccurrences", "Must be a whole number >= 1.")


def _candidate_days(pattern: dict[str, Any], first: date) -> Iterator[date]:
    ptype = str(pattern.get("type")).lower()
    interval = int(pattern.get("interval", 1))
    if ptype == "daily":
        d = first
        while True:
            yield d
            d += timedelta(days=interval)
    elif ptype == "weekly":
        wanted = {_WEEKDAYS.index(str(x).lower()) for x in pattern["daysOfWeek"]}
        week_start = first - timedelta(days=first.weekday())
        while True:
            for i in range(7):
                d = week_start + timedelta(days=i)
                if d >= first and d.weekday() in wanted:
                    yield d
            week_start += timedelta(weeks=interval)
    else:  # absoluteMonthly
        day = int(pattern.get("dayOfMonth") or first.day)
        y, m = first.year, first.month
        while y <= MAX_YEAR:
            try:
                d = date(y, m, day)
            except ValueError:
                d = None  # e.g. the 31st in a 30-day month: Outlook skips it
            if d is not None and d >= first:
                yield d
            m += interval
            y, m = y + (m - 1) // 12, (m - 1) % 12 + 1


def occurrences(
    rec: dict[str, Any], start: datetime, end: datetime, window_end: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """(start, end) of each occurrence of a series whose first instance is start..end,
    in the series' own zone, up to ``window_end``.

    Example::

        list(occurrences({"pattern": {"type": "daily", "interval": 1},
                          "range": {"type": "numbered", "startDate": "2027-01-01",
                                    "numberOfOccurrences": 2}}, start, end, window_end))
    """
    pattern, rng = rec["pattern"], rec["range"]
    rtype = str(rng.get("type")).lower()
    first = max(date.fromisoformat(str(rng["startDate"])), start.date())
    last = date.fromisoformat(str(rng["endDate"])) if rtype == "enddate" else None
    limit = int(rng["numberOfOccurrences"]) if rtype == "numbered" else MAX_OCCURRENCES
    duration = end - start
    zone = start.tzinfo
    for count, day in enumerate(_candidate_days(pattern, first)):
        if count >= min(limit, MAX_OCCURRENCES) or (last is not None and day > last):
            return
        occ_start = datetime.combine(day, start.timetz().replace(tzinfo=None), tzinfo=zone)
        if occ_start >= window_end:
            return
        yield occ_start, occ_start + duration

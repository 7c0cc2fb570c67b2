"""``m365bot calendar``: list, get, create, update, delete events, and accept, tentatively
accept or decline meetings, in the connected mailbox's calendar (a shared mailbox: connect with
``--mailbox``, or ``--username`` in client-credentials mode).

Times are ISO 8601 (``2026-12-01``, ``2026-12-01T09:00``, ``2026-12-01T09:00+01:00``); times
without an offset are in ``--time-zone`` (IANA, UTC or a Windows name; default UTC), which is
also the zone shown. Every command takes the connection options of ``m365bot connect`` or
``--profile NAME``, and ``--json``.

Example::

    m365bot calendar list 2026-12-01 2026-12-08 --time-zone Europe/Berlin --profile ops
    m365bot calendar create "Review" --start 2026-12-01T09:00 --end 2026-12-01T10:00 \\
        --attendee bob@contoso.com --online --profile ops
    m365bot calendar accept AAMkAG... --comment "See you" --profile ops
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import click

from m365bot.cli.outlook_common import (
    action,
    connection_options,
    emit,
    errors_as_lines,
    progress,
    show_table,
)
from m365bot.errors import ConfigError

TIME_ZONE = click.option("--time-zone", default="UTC", show_default=True, metavar="ZONE",
                         help="Zone of times given without an offset, and of times shown.")


def _when(text: str | None, field: str) -> datetime | date | None:
    """An ISO date or date-time from the command line; ConfigError naming ``field``."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{field}: {text!r} is not a date or time", field=field,
                          advice="use ISO 8601, e.g. 2026-12-01 or 2026-12-01T09:00") from None


def _when_text(event: Any) -> str:
    """``2026-12-01 09:00-10:00`` (the end's date only when it is another day)."""
    if event.start is None:
        return ""
    start = event.start.date_time
    end = event.end.date_time if event.end is not None else None
    if end is None:
        return f"{start:%Y-%m-%d %H:%M}"
    return f"{start:%Y-%m-%d %H:%M}-" + (f"{end:%H:%M}" if end.date() == start.date()
                                         else f"{end:%Y-%m-%d %H:%M}")


def _show(events: list[Any]) -> None:
    zone = next((e.start.time_zone for e in events if e.start is not None), None)
    rows = [[_when_text(e), e.subject, e.location, e.response_status] for e in events]
    show_table(["When", "Subject", "Location", "Response"], rows,
               title=f"Times in {zone}" if zone else None)


def _show_one(event: Any) -> None:
    _show([event])
    people = [[a.email.address, a.type, a.response] for a in event.attendees]
    if people:
        show_table(["Attendee", "Type", "Response"], people)
    if event.organizer is not None:
        click.echo(f"organizer: {event.organizer}")
    click.echo(f"id: {event.id}")


def _recurrence(repeat: str | None, every: int, days: str | None, day_of_month: int | None,
                until: str | None, count: int | None, start: Any) -> Any:
    from m365bot.outlook.models import Recurrence

    if repeat is None:
        if days or day_of_month or until or count:
            raise ConfigError("--days, --day-of-month, --until and --count need --repeat",
                              field="--repeat", advice="add --repeat daily|weekly|monthly")
        return None
    first = start.date() if isinstance(start, datetime) else start
    end = _when(until, "--until")
    end_day = end.date() if isinstance(end, datetime) else end
    if repeat == "daily":
        return Recurrence.daily(start=first, interval=every, end=end_day, count=count)
    if repeat == "weekly":
        names = [d.strip() for d in (days or "").split(",") if d.strip()]
        return Recurrence.weekly(days=names, start=first, interval=every, end=end_day,
                                 count=count)
    return Recurrence.monthly(day=day_of_month or first.day, start=first, interval=every,
                              end=end_day, count=count)


@click.group()
def calendar() -> None:
    """Calendar events: list, get, create, update, delete, accept, tentative, decline."""


@calendar.command("list")
@click.argument("start")
@click.argument("end")
@TIME_ZONE
@connection_options
def list_(start: str, end: str, time_zone: str, **opts: Any) -> None:
    """Every event from START to END (dates or times), recurring ones expanded."""
    from m365bot.outlook.calplans import CalendarPlans

    with errors_as_lines():
        first, last = _when(start, "START"), _when(end, "END")
        assert first is not None and last is not None
        CalendarPlans("me").view(first, last, time_zone=time_zone)
    with action(opts) as session, progress("Listing events") as bar:
        events = []
        for event in session.calendar.list(first, last, time_zone=time_zone):
            events.append(event)
            bar.advance()
    emit(events, as_json=opts["as_json"], table=_show)


@calendar.command("get")
@click.argument("event_id")
@TIME_ZONE
@connection_options
def get(event_id: str, time_zone: str, **opts: Any) -> None:
    """Show one event, with its attendees and their answers."""
    from m365bot.outlook.calplans import check_id, check_zone

    with errors_as_lines():
        check_id(event_id, "EVENT_ID")
        check_zone(time_zone, "--time-zone")
    with action(opts) as session:
        event = session.calendar.get(event_id, time_zone=time_zone)
    emit(event, as_json=opts["as_json"], table=_show_one)


def _event_options(fn: Any) -> Any:
    options = [
        click.option("--attendee", "attendees", multiple=True, metavar="ADDRESS",
                     help="A required attendee (repeat, or separate with commas)."),
        click.option("--optional", "optional", multiple=True, metavar="ADDRESS",
                     help="An optional attendee (repeat, or separate with commas)."),
        click.option("--location", default=None, help="Where the event takes place."),
        click.option("--body", default=None, help="The event's description."),
        click.option("--html", is_flag=True, help="The body is HTML."),
        TIME_ZONE,
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _people(values: tuple[str, ...]) -> str | None:
    return ",".join(values) if values else None


@calendar.command("create")
@click.argument("subject")
@click.option("--start", required=True, help="Start (ISO 8601).")
@click.option("--end", required=True, help="End (ISO 8601).")
@_event_options
@click.option("--online", is_flag=True, help="Make it a Teams meeting.")
@click.option("--repeat", type=click.Choice(["daily", "weekly", "monthly"]), default=None,
              help="Repeat the event (needs --until or --count).")
@click.option("--every", default=1, show_default=True, type=int,
              help="Every N days, weeks or months.")
@click.option("--days", default=None, metavar="DAYS",
              help="Weekly: days of the week, e.g. monday,thursday.")
@click.option("--day-of-month", default=None, type=int, help="Monthly: day 1-31.")
@click.option("--until", default=None, metavar="DATE", help="Last date of the series.")
@click.option("--count", default=None, type=int, help="Number of occurrences.")
@click.option("--transaction-id", default=None,
              help="Your id for this create: running again with it never makes a second "
              "event.")
@connection_options
def create(subject: str, start: str, end: str, attendees: tuple[str, ...],
           optional: tuple[str, ...], location: str | None, body: str | None, html: bool,
           time_zone: str, online: bool, repeat: str | None, every: int, days: str | None,
           day_of_month: int | None, until: str | None, count: int | None,
           transaction_id: str | None, **opts: Any) -> None:
    """Create an event called SUBJECT (a meeting when it has attendees: they are invited)."""
    from m365bot.outlook.calplans import CalendarPlans

    with errors_as_lines():
        first, last = _when(start, "--start"), _when(end, "--end")
        args: dict[str, Any] = {
            "attendees": _people(attendees), "optional_attendees": _people(optional),
            "location": location, "body": body, "body_type": "html" if html else "text",
            "online_meeting": online, "time_zone": time_zone,
            "recurrence": _recurrence(repeat, every, days, day_of_month, until, count, first),
            "transaction_id": transaction_id}
        assert first is not None and last is not None
        CalendarPlans("me").new_event(subject, first, last, **args)
    with action(opts) as session:
        event = session.calendar.create(subject, first, last, **args)
    emit(event, as_json=opts["as_json"], table=_show_one)


@calendar.command("update")
@click.argument("event_id")
@click.option("--subject", default=None, help="New subject.")
@click.option("--start", default=None, help="New start (ISO 8601).")
@click.option("--end", default=None, help="New end (ISO 8601).")
@_event_options
@click.option("--online/--not-online", default=None, help="Make it (or not) a Teams meeting.")
@connection_options
def update(event_id: str, subject: str | None, start: str | None, end: str | None,
           attendees: tuple[str, ...], optional: tuple[str, ...], location: str | None,
           body: str | None, html: bool, time_zone: str, online: bool | None,
           **opts: Any) -> None:
    """Change only the given fields of an event (attendees given replace the list)."""
    from m365bot.outlook.calplans import CalendarPlans, check_id

    with errors_as_lines():
        check_id(event_id, "EVENT_ID")
        args: dict[str, Any] = {
            "subject": subject, "start": _when(start, "--start"), "end": _when(end, "--end"),
            "location": location, "body": body, "body_type": "html" if html else "text",
            "attendees": _people(attendees), "optional_attendees": _people(optional),
            "online_meeting": online, "time_zone": time_zone}
        CalendarPlans("me").changes(**args)
    with action(opts) as session:
        event = session.calendar.update(event_id, **args)
    emit(event, as_json=opts["as_json"], table=_show_one)


@calendar.command("delete")
@click.argument("event_id")
@click.option("--cancel", is_flag=True,
              help="Cancel the meeting (organizer): attendees are told.")
@click.option("--comment", default=None, help="Cancel with this message to the attendees.")
@connection_options
def delete(event_id: str, cancel: bool, comment: str | None, **opts: Any) -> None:
    """Delete an event, or cancel a meeting you organize (--cancel, --comment)."""
    from m365bot.outlook.calplans import check_id

    with errors_as_lines():
        check_id(event_id, "EVENT_ID")
    with action(opts) as session:
        done = session.calendar.delete(event_id, cancel=cancel, comment=comment)
    emit({"id": event_id, "result": done}, as_json=opts["as_json"],
         table=lambda d: click.echo(f"Event {done}."))


def _respond(answer: str, text: str, done: str) -> Any:
    @calendar.command(answer, help=f"{text} a meeting invitation.")
    @click.argument("event_id")
    @click.option("--comment", default=None, help="A message to the organizer.")
    @click.option("--send-response/--no-send-response", default=True, show_default=True,
                  help="Tell the organizer.")
    @connection_options
    def respond(event_id: str, comment: str | None, send_response: bool, **opts: Any) -> None:
        from m365bot.outlook.calplans import check_id

        with errors_as_lines():
            check_id(event_id, "EVENT_ID")
        with action(opts) as session:
            session.calendar.respond(event_id, answer, comment=comment,
                                     send_response=send_response)
        emit({"id": event_id, "response": answer, "sent": send_response},
             as_json=opts["as_json"],
             table=lambda d: click.echo(
                 f"{done}{'' if send_response else ' (the organizer was not told)'}."))

    return respond


accept = _respond("accept", "Accept", "Accepted")
tentative = _respond("tentative", "Tentatively accept", "Tentatively accepted")
decline = _respond("decline", "Decline", "Declined")

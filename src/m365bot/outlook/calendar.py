"""The calendar of the session's mailbox (or a shared one): ``session.calendar`` and its async
twin ``session.aio.calendar``.

* ``list(start, end)``: every event in the range, recurring series expanded into their
  occurrences (Graph's calendarView), every page followed;
* ``get(id)``; ``create(...)`` with attendees, location, a Teams meeting, a body and a
  :class:`~m365bot.outlook.models.Recurrence` (made at most once, even when retried);
* ``update(id, ...)`` sends only the given fields; ``delete(id)`` (or cancel a meeting with a
  comment); ``accept``, ``tentative``, ``decline`` with a comment and ``send_response``.

``time_zone=`` (IANA, UTC or a Windows name) is the zone of naive times given and of the times
Graph answers with (``Prefer: outlook.timezone``); UTC by default. ``mailbox=`` works in a
shared mailbox's calendar. Bad input raises ConfigError naming the field before anything is
sent.

Example::

    for event in session.calendar.list(date(2026, 12, 1), date(2026, 12, 8),
                                       time_zone="Europe/Berlin"):
        print(event.start.date_time, event.subject)
    meeting = session.calendar.create(
        "Review", datetime(2026, 12, 1, 9), datetime(2026, 12, 1, 10),
        time_zone="Europe/Berlin", attendees="bob@contoso.com", online_meeting=True)
    await session.aio.calendar.accept(event_id, comment="See you", send_response=True)
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import TYPE_CHECKING, TypeVar

from m365bot.outlook.calplans import CalendarPlans, People, TimeLike, View
from m365bot.outlook.models import Event, Recurrence
from m365bot.outlook.plans import Plan, arun, run

if TYPE_CHECKING:
    from m365bot.sessions import Session

log = logging.getLogger(__name__)
T = TypeVar("T")


class Calendar:
    """``session.calendar``: events of the session's mailbox (``mailbox=``: a shared one).

    Example::

        for event in session.calendar.list(date(2026, 12, 1), date(2026, 12, 8)):
            print(event.start, event.subject)
    """

    def __init__(self, session: Session) -> None:
        self._session = session
        self.plans = CalendarPlans(session.mailbox)

    def _run(self, plan: Plan[T]) -> T:
        return run(self._session, plan)

    def list(self, start: TimeLike, end: TimeLike, *, time_zone: str | None = None,
             mailbox: str | None = None, select: Sequence[str] | None = None,
             page_size: int = 100) -> Iterator[Event]:
        """Every event overlapping [start, end), occurrences of series included, by start.
        Dates mean midnight in ``time_zone`` (UTC by default)."""
        view = self.plans.view(start, end, time_zone=time_zone, mailbox=mailbox, select=select)
        return self._list(view, page_size)

    def _list(self, view: View, page_size: int) -> Iterator[Event]:
        count = 0
        for item in self._session.graph.paginate(view.path, params=view.params,
                                                 select=list(view.select), top=page_size,
                                                 headers=view.headers):
            count += 1
            yield Event.from_graph(item)
        log.info("calendar: listed %d events", count)

    def get(self, event_id: str, *, time_zone: str | None = None,
            mailbox: str | None = None) -> Event:
        """One event (or occurrence) by id."""
        event = self._run(self.plans.get(event_id, time_zone=time_zone, mailbox=mailbox))
        log.info("calendar: read one event")
        return event

    def create(self, subject: str, start: TimeLike, end: TimeLike, *,
               attendees: People | None = None, optional_attendees: People | None = None,
               location: str | None = None, body: str | None = None, body_type: str = "text",
               online_meeting: bool = False, recurrence: Recurrence | None = None,
               time_zone: str | None = None, mailbox: str | None = None,
               transaction_id: str | None = None) -> Event:
        """Create an event (a meeting when it has attendees: they get the invitation).

        It is made at most once: a ``transaction_id`` (random unless given) lets the engine
        resend after a 503, 504 or dropped connection, and Graph returns the event an earlier
        try made. Calling ``create`` again with the same ``transaction_id`` is safe too."""
        data = self.plans.new_event(subject, start, end, attendees=attendees,
                                    optional_attendees=optional_attendees, location=location,
                                    body=body, body_type=body_type,
                                    online_meeting=online_meeting,
                                    recurrence=recurrence, time_zone=time_zone,
                                    transaction_id=transaction_id)
        event = self._run(self.plans.create(data, time_zone=time_zone, mailbox=mailbox))
        log.info("calendar: created an event with %d attendees", len(event.attendees))
        return event

    def update(self, event_id: str, *, subject: str | None = None,
               start: TimeLike | None = None, end: TimeLike | None = None,
               location: str | None = None, body: str | None = None, body_type: str = "text",
               attendees: People | None = None, optional_attendees: People | None = None,
               online_meeting: bool | None = None, recurrence: Recurrence | None = None,
               time_zone: str | None = None, mailbox: str | None = None) -> Event:
        """Change only the given fields (PATCH); returns the updated event. Attendees given
        replace the list."""
        changes = self.plans.changes(subject=subject, start=start, end=end, location=location,
                                     body=body, body_type=body_type, attendees=attendees,
                                     optional_attendees=optional_attendees,
                                     online_meeting=online_meeting, recurrence=recurrence,
                                     time_zone=time_zone)
        event = self._run(self.plans.update(event_id, changes, time_zone=time_zone,
                                            mailbox=mailbox))
        log.info("calendar: updated %s of an event", ", ".join(changes.fields))
        return event

    def delete(self, event_id: str, *, cancel: bool = False, comment: str | None = None,
               mailbox: str | None = None) -> str:
        """Delete the event; with ``cancel=True`` or a ``comment``, cancel the meeting instead
        (organizer only: attendees get the cancellation and the comment). Returns "deleted"
        or "cancelled"."""
        done = self._run(self.plans.delete(event_id, cancel=cancel, comment=comment,
                                           mailbox=mailbox))
        log.info("calendar: %s an event", done)
        return done

    def respond(self, event_id: str, answer: str, *, comment: str | None = None,
                send_response: bool = True, mailbox: str | None = None) -> None:
        """Answer a meeting: ``answer`` is accept, tentative or decline."""
        action = self._run(self.plans.respond(event_id, answer, comment=comment,
                                              send_response=send_response, mailbox=mailbox))
        log.info("calendar: %s a meeting (response sent: %s)", action, send_response)

    def accept(self, event_id: str, *, comment: str | None = None, send_response: bool = True,
               mailbox: str | None = None) -> None:
        """Accept a meeting (``send_response=False``: the organizer is not told)."""
        self.respond(event_id, "accept", comment=comment, send_response=send_response,
                     mailbox=mailbox)

    def tentative(self, event_id: str, *, comment: str | None = None,
                  send_response: bool = True, mailbox: str | None = None) -> None:
        """Tentatively accept a meeting."""
        self.respond(event_id, "tentative", comment=comment, send_response=send_response,
                     mailbox=mailbox)

    def decline(self, event_id: str, *, comment: str | None = None, send_response: bool = True,
                mailbox: str | None = None) -> None:
        """Decline a meeting: it leaves the calendar."""
        self.respond(event_id, "decline", comment=comment, send_response=send_response,
                     mailbox=mailbox)


class AsyncCalendar:
    """``session.aio.calendar``: the same actions, awaited (``list`` is an async iterator).

    Example::

        async for event in session.aio.calendar.list(date(2026, 12, 1), date(2026, 12, 8)):
            await session.aio.calendar.accept(event.id, send_response=False)
    """

    def __init__(self, session: Session, twin: Calendar) -> None:
        self._session = session
        self._twin = twin
        self.plans = twin.plans

    async def _run(self, plan: Plan[T]) -> T:
        return await arun(self._session, plan)

    def list(self, start: TimeLike, end: TimeLike, *, time_zone: str | None = None,
             mailbox: str | None = None, select: Sequence[str] | None = None,
             page_size: int = 100) -> AsyncIterator[Event]:
        view = self.plans.view(start, end, time_zone=time_zone, mailbox=mailbox, select=select)
        return self._list(view, page_size)

    async def _list(self, view: View, page_size: int) -> AsyncIterator[Event]:
        count = 0
        async for item in self._session.agraph.paginate(view.path, params=view.params,
                                                        select=list(view.select),
                                                        top=page_size, headers=view.headers):
            count += 1
            yield Event.from_graph(item)
        log.info("calendar: listed %d events", count)

    async def get(self, event_id: str, *, time_zone: str | None = None,
                  mailbox: str | None = None) -> Event:
        event = await self._run(self.plans.get(event_id, time_zone=time_zone, mailbox=mailbox))
        log.info("calendar: read one event")
        return event

    async def create(self, subject: str, start: TimeLike, end: TimeLike, *,
                     attendees: People | None = None, optional_attendees: People | None = None,
                     location: str | None = None, body: str | None = None,
                     body_type: str = "text", online_meeting: bool = False,
                     recurrence: Recurrence | None = None, time_zone: str | None = None,
                     mailbox: str | None = None, transaction_id: str | None = None) -> Event:
        data = self.plans.new_event(subject, start, end, attendees=attendees,
                                    optional_attendees=optional_attendees, location=location,
                                    body=body, body_type=body_type,
                                    online_meeting=online_meeting,
                                    recurrence=recurrence, time_zone=time_zone,
                                    transaction_id=transaction_id)
        event = await self._run(self.plans.create(data, time_zone=time_zone, mailbox=mailbox))
        log.info("calendar: created an event with %d attendees", len(event.attendees))
        return event

    async def update(self, event_id: str, *, subject: str | None = None,
                     start: TimeLike | None = None, end: TimeLike | None = None,
                     location: str | None = None, body: str | None = None,
                     body_type: str = "text", attendees: People | None = None,
                     optional_attendees: People | None = None,
                     online_meeting: bool | None = None, recurrence: Recurrence | None = None,
                     time_zone: str | None = None, mailbox: str | None = None) -> Event:
        changes = self.plans.changes(subject=subject, start=start, end=end, location=location,
                                     body=body, body_type=body_type, attendees=attendees,
                                     optional_attendees=optional_attendees,
                                     online_meeting=online_meeting, recurrence=recurrence,
                                     time_zone=time_zone)
        event = await self._run(self.plans.update(event_id, changes, time_zone=time_zone,
                                                  mailbox=mailbox))
        log.info("calendar: updated %s of an event", ", ".join(changes.fields))
        return event

    async def delete(self, event_id: str, *, cancel: bool = False, comment: str | None = None,
                     mailbox: str | None = None) -> str:
        done = await self._run(self.plans.delete(event_id, cancel=cancel, comment=comment,
                                                 mailbox=mailbox))
        log.info("calendar: %s an event", done)
        return done

    async def respond(self, event_id: str, answer: str, *, comment: str | None = None,
                      send_response: bool = True, mailbox: str | None = None) -> None:
        action = await self._run(self.plans.respond(event_id, answer, comment=comment,
                                                    send_response=send_response,
                                                    mailbox=mailbox))
        log.info("calendar: %s a meeting (response sent: %s)", action, send_response)

    async def accept(self, event_id: str, *, comment: str | None = None,
                     send_response: bool = True, mailbox: str | None = None) -> None:
        await self.respond(event_id, "accept", comment=comment, send_response=send_response,
                           mailbox=mailbox)

    async def tentative(self, event_id: str, *, comment: str | None = None,
                        send_response: bool = True, mailbox: str | None = None) -> None:
        await self.respond(event_id, "tentative", comment=comment,
                           send_response=send_response, mailbox=mailbox)

    async def decline(self, event_id: str, *, comment: str | None = None,
                      send_response: bool = True, mailbox: str | None = None) -> None:
        await self.respond(event_id, "decline", comment=comment, send_response=send_response,
                           mailbox=mailbox)


__all__ = ["AsyncCalendar", "Calendar"]

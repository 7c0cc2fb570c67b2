"""session.calendar against the emulator over real HTTPS: events in a range (series expanded,
every page), get, create (attendees, location, Teams, body, recurrence; at most once), update,
delete or cancel, and the meeting responses; bad input refused before anything is sent."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from outlook_support import HANS, OPS, graph_calls, last_seq

from m365bot.errors import ConfigError, GraphError
from m365bot.outlook.models import Attendee, EmailAddress, Event, Recurrence
from m365bot.sessions import Session

BOB = "bob@contoso.onmicrosoft.com"
ALICE = "alice@contoso.onmicrosoft.com"
DAY = date(2027, 3, 1)  # a Monday


def at(hour: int, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour)


def subjects(events: list[Event]) -> list[str]:
    return [e.subject or "" for e in events]


def inbox_subjects(session: Session, box: str) -> list[str]:
    body = session.graph_get(f"/users/{box}/mailFolders/inbox/messages",
                             params={"$select": "subject", "$top": "100"}).body
    return [m["subject"] for m in body["value"]]


def test_create_a_teams_meeting_and_find_it_in_the_range(hans: Session,
                                                          session_for: Callable[[str], Session]
                                                          ) -> None:
    made = hans.calendar.create(
        "Quarterly review", at(9), at(10), time_zone="Europe/Berlin",
        attendees="Bob Berg <bob@contoso.onmicrosoft.com>", optional_attendees=[ALICE],
        location="Room 4", body="Agenda: numbers", online_meeting=True)
    assert made.id and made.start is not None
    assert (made.start.date_time, made.start.time_zone) == (at(9), "Europe/Berlin")
    assert {(a.email.address, a.type) for a in made.attendees} == {(BOB, "required"),
                                                                   (ALICE, "optional")}
    assert made.location == "Room 4" and made.is_online_meeting is True

    found = list(hans.calendar.list(DAY, date(2027, 3, 2), time_zone="Europe/Berlin"))
    assert subjects(found) == ["Quarterly review"]
    assert found[0].start is not None and found[0].start.date_time == at(9)
    in_utc = list(hans.calendar.list(datetime(2027, 3, 1, tzinfo=UTC),
                                     datetime(2027, 3, 2, tzinfo=UTC)))
    assert in_utc[0].start is not None and in_utc[0].start.date_time == at(8)  # 9:00 CET

    got = hans.calendar.get(made.id, time_zone="Europe/Berlin")
    assert got.subject == "Quarterly review" and got.body is not None and "Agenda" in got.body
    bob_copy = list(session_for(BOB).calendar.list(DAY, date(2027, 3, 2)))
    assert subjects(bob_copy) == ["Quarterly review"]  # the invitation reached Bob


def test_series_are_expanded_and_every_page_followed(hans: Session, outlook_emulator: Any) -> None:
    hans.calendar.create("Stand-up", at(9), at(9).replace(minute=15), time_zone="UTC",
                         recurrence=Recurrence.daily(start=DAY, count=3))
    hans.calendar.create("Sync", at(14), at(15), time_zone="UTC",
                         recurrence=Recurrence.weekly(days=("monday", "thursday"), start=DAY,
                                                      end=date(2027, 3, 11)))
    hans.calendar.create("Rent", at(8), at(8).replace(minute=30), time_zone="UTC",
                         recurrence=Recurrence.monthly(day=1, start=DAY, count=2))
    since = last_seq(outlook_emulator)
    found = list(hans.calendar.list(DAY, date(2027, 5, 1), time_zone="UTC", page_size=2))
    assert sorted(subjects(found)) == sorted(["Stand-up"] * 3 + ["Sync"] * 4 + ["Rent"] * 2)
    assert all(e.type == "occurrence" and e.series_master_id for e in found)
    starts = [e.start.date_time for e in found if e.start is not None]
    assert starts == sorted(starts)
    pages = [r for r in graph_calls(outlook_emulator, since) if r["op"] == "calendarView"]
    assert len(pages) == 5  # 9 occurrences, 2 a page


@pytest.mark.parametrize("fault", [
    {"kind": "apply_then_reset"},
    {"kind": "apply_then_status", "status": 504},
    {"kind": "status", "status": 503, "retry_after": 0},
    {"kind": "apply_then_status", "status": 429, "retry_after": 0},
])
def test_a_create_retried_after_a_lost_answer_is_made_once(hans: Session, outlook_emulator: Any,
                                                            fault: dict[str, Any]) -> None:
    outlook_emulator.control.add_fault(op="events.create", nth=1, **fault)
    made = hans.calendar.create("Board meeting", at(11), at(12), time_zone="UTC",
                                attendees=[BOB])
    assert made.subject == "Board meeting"
    assert outlook_emulator.control.count("events.create") == 2  # the engine did resend
    found = list(hans.calendar.list(DAY, date(2027, 3, 2), time_zone="UTC"))
    assert subjects(found) == ["Board meeting"]
    assert found[0].id == made.id


def test_create_again_with_the_same_transaction_id_returns_the_first(hans: Session) -> None:
    first = hans.calendar.create("Once", at(13), at(14), time_zone="UTC", transaction_id="t-1")
    again = hans.calendar.create("Once", at(13), at(14), time_zone="UTC", transaction_id="t-1")
    assert again.id == first.id
    assert subjects(list(hans.calendar.list(DAY, date(2027, 3, 2)))) == ["Once"]


def test_in_a_shared_mailbox(hans: Session, session_for: Callable[[str], Session]) -> None:
    made = hans.calendar.create("Ops rota", at(7), at(8), time_zone="UTC", mailbox=OPS)
    assert subjects(list(session_for(OPS).calendar.list(DAY, date(2027, 3, 2)))) == ["Ops rota"]
    assert list(hans.calendar.list(DAY, date(2027, 3, 2))) == []
    assert hans.calendar.get(made.id, mailbox=OPS).subject == "Ops rota"


def test_update_changes_only_the_given_fields(hans: Session) -> None:
    made = hans.calendar.create("Draft plan", at(9), at(10), time_zone="UTC",
                                attendees=[BOB], location="Room 1", body="keep me")
    assert hans.calendar.plans.changes(subject="Final plan").body == {"subject": "Final plan"}
    updated = hans.calendar.update(made.id, subject="Final plan")
    assert updated.subject == "Final plan"
    got = hans.calendar.get(made.id)
    assert got.location == "Room 1" and got.body == "keep me"
    assert [a.email.address for a in got.attendees] == [BOB]
    moved = hans.calendar.update(made.id, start=at(15), end=at(16), time_zone="UTC",
                                 online_meeting=True)
    assert moved.start is not None and moved.start.date_time == at(15)
    assert moved.is_online_meeting is True and moved.subject == "Final plan"


def test_delete_and_cancel_with_a_comment(hans: Session,
                                          session_for: Callable[[str], Session]) -> None:
    alone = hans.calendar.create("Focus time", at(9), at(10), time_zone="UTC")
    assert hans.calendar.delete(alone.id) == "deleted"
    meeting = hans.calendar.create("Kick-off", at(11), at(12), time_zone="UTC",
                                   attendees=[BOB])
    bob = session_for(BOB)
    assert hans.calendar.delete(meeting.id, comment="Postponed to April") == "cancelled"
    assert list(hans.calendar.list(DAY, date(2027, 3, 2))) == []
    bob_copy = list(bob.calendar.list(DAY, date(2027, 3, 2)))
    assert [e.is_cancelled for e in bob_copy] == [True]
    assert any("Kick-off" in s for s in inbox_subjects(bob, BOB))


def test_accept_tentative_and_decline(hans: Session,
                                      session_for: Callable[[str], Session]) -> None:
    meeting = hans.calendar.create("Planning", at(9), at(10), time_zone="UTC",
                                   attendees=[BOB, ALICE])
    bob, alice = session_for(BOB), session_for(ALICE)
    bob_id = next(iter(bob.calendar.list(DAY, date(2027, 3, 2)))).id
    alice_id = next(iter(alice.calendar.list(DAY, date(2027, 3, 2)))).id
    before = inbox_subjects(hans, HANS)

    bob.calendar.tentative(bob_id, comment="Maybe")
    bob.calendar.accept(bob_id, comment="See you", send_response=True)
    alice.calendar.decline(alice_id, comment="Away", send_response=False)

    answers = {a.email.address: a.response for a in hans.calendar.get(meeting.id).attendees}
    assert answers == {BOB: "accepted", ALICE: "declined"}
    new_mail = [s for s in inbox_subjects(hans, HANS) if s not in before]
    assert sorted(new_mail) == ["Accepted: Planning", "Tentative: Planning"]  # Alice sent none
    assert bob.calendar.get(bob_id).response_status == "accepted"
    assert list(alice.calendar.list(DAY, date(2027, 3, 2))) == []  # declined: gone


def test_the_async_twin_runs_the_same_actions(hans: Session,
                                              session_for: Callable[[str], Session]) -> None:
    bob = session_for(BOB)

    async def main() -> tuple[list[Event], Event]:
        try:
            made = await hans.aio.calendar.create(
                "Async review", at(10), at(11), time_zone="UTC", attendees=[BOB],
                recurrence=Recurrence.daily(start=DAY, count=2))
            found = [e async for e in hans.aio.calendar.list(DAY, date(2027, 3, 3),
                                                              page_size=1)]
            await hans.aio.calendar.update(made.id, location="Hall")
            return found, await hans.aio.calendar.get(made.id)
        finally:
            await hans.agraph.aclose()

    found, master = asyncio.run(main())
    assert subjects(found) == ["Async review"] * 2 and master.location == "Hall"

    async def answer() -> None:
        try:
            async for e in bob.aio.calendar.list(DAY, date(2027, 3, 3)):
                assert e.series_master_id is not None
                await bob.aio.calendar.accept(e.series_master_id, send_response=False)
                break
            assert await hans.aio.calendar.delete(master.id) == "deleted"
        finally:
            await bob.agraph.aclose()
            await hans.agraph.aclose()

    asyncio.run(answer())
    assert list(hans.calendar.list(DAY, date(2027, 3, 3))) == []


BAD_INPUT: list[tuple[str, Callable[[Session], Any], str]] = [
    ("end before start", lambda s: s.calendar.create("x", at(10), at(9), time_zone="UTC"),
     "end"),
    ("bad attendee", lambda s: s.calendar.create("x", at(9), at(10), time_zone="UTC",
                                                 attendees="bob@contoso.onmicrosoft.com; bob"),
     "attendees"),
    ("bad optional attendee", lambda s: s.calendar.create(
        "x", at(9), at(10), time_zone="UTC", optional_attendees=[EmailAddress("no-at-sign")]),
     "optional_attendees"),
    ("unknown zone", lambda s: s.calendar.create("x", at(9), at(10), time_zone="Mars/Olympus"),
     "time_zone"),
    ("unknown zone in a range", lambda s: list(s.calendar.list(DAY, date(2027, 3, 2),
                                                               time_zone="Europe/Nowhere")),
     "time_zone"),
    ("naive time without zone", lambda s: s.calendar.create("x", at(9), at(10)), "start"),
    ("recurrence without end", lambda s: s.calendar.create(
        "x", at(9), at(10), time_zone="UTC", recurrence=Recurrence(pattern="daily", start=DAY)),
     "recurrence"),
    ("bad id", lambda s: s.calendar.get("../../messages"), "event_id"),
    ("bad id on update", lambda s: s.calendar.update("x y", subject="n"), "event_id"),
    ("bad id on accept", lambda s: s.calendar.accept("", comment="ok"), "event_id"),
    ("bad id on delete", lambda s: s.calendar.delete("a/b?c=d"), "event_id"),
    ("nothing to update", lambda s: s.calendar.update("AAMkAGE0000000000AAA="), "fields"),
    ("range ends first", lambda s: list(s.calendar.list(date(2027, 3, 2), DAY)), "end"),
    ("bad shared mailbox", lambda s: s.calendar.create("x", at(9), at(10), time_zone="UTC",
                                                       mailbox="ops at contoso"), "mailbox"),
    ("bad attendee type", lambda s: s.calendar.create(
        "x", at(9), at(10), time_zone="UTC",
        attendees=[Attendee(EmailAddress("bob@contoso.onmicrosoft.com"), "boss")]),
     "attendees"),
]


@pytest.mark.parametrize(("case", "call", "field"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input_names_the_field_and_sends_nothing(hans: Session, outlook_emulator: Any,
                                                     case: str,
                                                     call: Callable[[Session], Any],
                                                     field: str) -> None:
    hans.graph_get(f"/users/{HANS}/mailFolders/inbox")  # signed in: nothing else is sent
    since = last_seq(outlook_emulator)
    with pytest.raises(ConfigError) as caught:
        call(hans)
    assert caught.value.field == field, case
    assert caught.value.advice
    assert graph_calls(outlook_emulator, since) == []


def test_windows_zone_names_work_like_iana_ones(hans: Session) -> None:
    made = hans.calendar.create("Call NY", datetime(2027, 3, 1, 14, tzinfo=UTC),
                                datetime(2027, 3, 1, 15, tzinfo=UTC),
                                time_zone="Eastern Standard Time")
    assert made.start is not None and made.start.date_time == at(9)  # 14:00 UTC = 9:00 EST
    found = list(hans.calendar.list(DAY, date(2027, 3, 2), time_zone="W. Europe Standard Time"))
    assert [(e.subject, e.start.date_time if e.start else None) for e in found] == [
        ("Call NY", at(15))]
    # midnight to midnight in New York: 05:00-05:00 UTC; an event at 03:00 UTC is outside
    hans.calendar.create("Early", datetime(2027, 3, 1, 3, tzinfo=UTC),
                         datetime(2027, 3, 1, 4, tzinfo=UTC))
    in_ny = hans.calendar.list(DAY, date(2027, 3, 2), time_zone="Eastern Standard Time")
    assert subjects(list(in_ny)) == ["Call NY"]
    in_utc = hans.calendar.list(DAY, date(2027, 3, 2), time_zone="UTC")
    assert subjects(list(in_utc)) == ["Early", "Call NY"]


def test_an_attendee_cannot_cancel_and_is_told_what_to_do(
        hans: Session, session_for: Callable[[str], Session]) -> None:
    hans.calendar.create("Retro", at(16), at(17), time_zone="UTC", attendees=[BOB])
    bob = session_for(BOB)
    copy = next(iter(bob.calendar.list(DAY, date(2027, 3, 2))))
    with pytest.raises(GraphError) as caught:
        bob.calendar.delete(copy.id, comment="Not me")
    assert caught.value.status == 400 and "decline" in caught.value.advice
    assert subjects(list(bob.calendar.list(DAY, date(2027, 3, 2)))) == ["Retro"]
    assert bob.calendar.delete(copy.id) == "deleted"  # a plain delete is the attendee's way
    assert list(bob.calendar.list(DAY, date(2027, 3, 2))) == []

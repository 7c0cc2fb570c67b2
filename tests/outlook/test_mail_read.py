"""Get emails over the emulator through Connect: every page, newest first, the filters run
on the server (Outlook's rules: receivedDateTime leads a sorted $filter, $search takes no
$filter or $orderby, so filters are folded into KQL), get by id, the async twin, and bad
input or refused combinations that send nothing."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, date, datetime
from typing import Any

import pytest
from outlook_support import HANS, graph_calls, last_seq, run_cli

from m365bot.errors import ConfigError, NotFoundError
from m365bot.sessions import Session

N = 24


def _seed(emulator: Any, folder: str = "Vertrieb") -> None:
    """24 messages in Hans's Inbox/Vertrieb, received one per day in November 2026:
    every 4th from the shop with "Rechnung" in the subject, every 3rd read, every 6th with an
    attachment, every 5th high importance, every 8th in category "Finanzen"."""
    from m365bot.emulator.graph.seed import seed_message

    box = emulator.state.mailbox(HANS)
    with emulator.state.lock:
        for i in range(N):
            seed_message(emulator.state, box, {
                "folder": folder,
                "subject": f"Rechnung {i}" if i % 4 == 0 else f"Bericht {i}",
                "from": "shop@kunde.example" if i % 4 == 0 else f"kollege{i % 3}@firma.example",
                "to": [HANS], "body": f"Nachricht {i}",
                "received": f"2026-11-{1 + i:02d}T09:00:00Z",
                "is_read": i % 3 == 0, "importance": "high" if i % 5 == 0 else "normal",
                "categories": ["Finanzen"] if i % 8 == 0 else [],
                "attachments": [{"name": "a.txt", "content": "x"}] if i % 6 == 0 else [],
            })


def _lists(emulator: Any, since: int) -> int:
    return sum(1 for c in graph_calls(emulator, since) if c.get("op") == "messages.list")


def _numbers(emails: Any) -> list[int]:
    return [int(e.subject.split()[-1]) for e in emails]


def test_every_page_is_followed_newest_first_with_the_callers_fields(
        outlook_emulator: Any, hans: Session) -> None:
    _seed(outlook_emulator)
    hans.folders.get("Inbox/Vertrieb")  # resolve the path first: count only the listing
    since = last_seq(outlook_emulator)
    emails = list(hans.mail.list("inbox/vertrieb", fields=["subject", "received"],
                                 page_size=10))
    assert _numbers(emails) == list(range(N - 1, -1, -1))  # newest first, all 24
    assert _lists(outlook_emulator, since) == 3  # 10 + 10 + 4: every nextLink followed
    first = emails[0]
    assert first.received == datetime(2026, 11, 24, 9, tzinfo=UTC)
    assert first.from_ is None and first.is_read is None  # only the fields asked for
    assert len(list(hans.mail.list("Inbox/Vertrieb", limit=5))) == 5


def test_a_later_pages_error_reaches_the_caller_and_a_limit_stops_the_paging(
        outlook_emulator: Any, hans: Session) -> None:
    """The pages are fetched ahead on a worker thread: a page that fails still raises in the
    caller's loop, after the pages before it, and a limit asks for no page beyond it."""
    from m365bot.errors import GraphError

    _seed(outlook_emulator)
    hans.folders.get("Inbox/Vertrieb")
    outlook_emulator.control.add_fault(op="messages.list", kind="status", status=403, nth=2,
                                       code="ErrorAccessDenied")
    seen: list[int] = []
    with pytest.raises(GraphError) as info:
        for e in hans.mail.list("Inbox/Vertrieb", fields=["subject"], page_size=10):
            seen.append(int(e.subject.split()[-1]))
    assert info.value.code == "ErrorAccessDenied" and seen == list(range(N - 1, N - 11, -1))
    outlook_emulator.control.clear_faults()
    since = last_seq(outlook_emulator)
    assert len(list(hans.mail.list("Inbox/Vertrieb", page_size=10, limit=12))) == 12
    assert _lists(outlook_emulator, since) == 2  # 10 + 10, not the third page


def test_a_well_known_folder_is_listed_without_a_lookup(outlook_emulator: Any,
                                                       hans: Session) -> None:
    """A bot's first listing of its Inbox is one round trip: Graph takes the well-known name
    where the folder id goes (in any locale: Hans's Inbox is "Posteingang")."""
    since = last_seq(outlook_emulator)
    by_name = list(hans.mail.list("Inbox", fields=["subject"]))
    calls = graph_calls(outlook_emulator, since)
    assert [c.get("op") for c in calls] == ["messages.list"], "no folder lookup first"
    by_id = list(hans.mail.list(hans.folders.get("Inbox"), fields=["subject"]))
    assert [e.id for e in by_name] == [e.id for e in by_id] and by_name


def test_a_missing_well_known_folder_says_which_and_how_to_fix(outlook_emulator: Any,
                                                               hans: Session) -> None:
    outlook_emulator.control.add_fault(op="messages.list", kind="status", status=404,
                                       code="ErrorItemNotFound", count=2)
    for listing in (lambda: list(hans.mail.list("Archive")),
                    lambda: asyncio.run(_alist(hans, "Archive"))):
        with pytest.raises(NotFoundError) as info:
            listing()
        assert "there is no folder 'archive' at the top of the mailbox" in str(info.value)
        assert "m365bot folder list" in (info.value.advice or "")


async def _alist(session: Session, folder: str) -> list[Any]:
    return [e async for e in session.aio.mail.list(folder)]


def test_each_filter_runs_on_the_server(outlook_emulator: Any, hans: Session) -> None:
    _seed(outlook_emulator)
    hans.folders.get("Inbox/Vertrieb")
    cases: list[tuple[dict[str, Any], list[int]]] = [
        ({"status": "unread"}, [i for i in range(N) if i % 3]),
        ({"status": "read"}, [i for i in range(N) if i % 3 == 0]),
        ({"senders": ["shop@kunde.example"]}, [i for i in range(N) if i % 4 == 0]),
        ({"senders": "kollege1@firma.example, kollege2@firma.example"},
         [i for i in range(N) if i % 4 and i % 3 in (1, 2)]),
        ({"subject_contains": "rechnung"}, [i for i in range(N) if i % 4 == 0]),
        ({"received_since": date(2026, 11, 20)}, list(range(19, N))),
        ({"received_since": "2026-11-05", "received_until": "2026-11-08"}, [4, 5, 6]),
        ({"has_attachments": True}, [i for i in range(N) if i % 6 == 0]),
        ({"importance": "high"}, [i for i in range(N) if i % 5 == 0]),
        ({"category": "finanzen"}, [i for i in range(N) if i % 8 == 0]),
        ({"status": "unread", "senders": ["shop@kunde.example"], "importance": "normal",
          "received_until": datetime(2026, 11, 20, tzinfo=UTC)}, [4, 8, 16]),
    ]
    for filters, expected in cases:
        since = last_seq(outlook_emulator)
        got = _numbers(hans.mail.list("Inbox/Vertrieb", page_size=2, **filters))
        assert got == sorted(expected, reverse=True), filters
        # two matches per page: the server filtered (a client-side filter reads 12 pages)
        assert _lists(outlook_emulator, since) == max(1, -(-len(expected) // 2)), filters


def test_search_takes_the_other_filters_folded_into_kql(outlook_emulator: Any,
                                                        hans: Session) -> None:
    _seed(outlook_emulator)
    hans.folders.get("Inbox/Vertrieb")
    since = last_seq(outlook_emulator)
    # Graph refuses $search with $filter: senders, dates, attachments go into the KQL query
    got = _numbers(hans.mail.list("Inbox/Vertrieb", search="Rechnung OR Bericht",
                                  senders=["shop@kunde.example"], has_attachments=True,
                                  received_since=date(2026, 11, 2)))
    assert sorted(got) == [12]
    assert _lists(outlook_emulator, since) == 1
    assert _numbers(hans.mail.list("Inbox/Vertrieb", search='"Nachricht 7"')) == [7]


@pytest.mark.parametrize(("filters", "field"), [
    ({"search": "Rechnung", "status": "unread"}, "status"),
    ({"search": "Rechnung", "category": "Finanzen"}, "category"),
    ({"search": "Rechnung", "received_since": datetime(2026, 11, 2, 8, tzinfo=UTC)},
     "received_since"),
    ({"status": "new"}, "status"),
    ({"senders": ["not an address"]}, "senders"),
    ({"importance": "urgent"}, "importance"),
    ({"received_since": "last week"}, "received_since"),
    ({"received_since": datetime(2026, 11, 2)}, "received_since"),  # no time zone
    ({"received_since": "2026-11-05", "received_until": "2026-11-01"}, "received_until"),
    ({"fields": ["subject", "colour"]}, "fields"),
    ({"limit": 0}, "limit"),
    ({"page_size": 5000}, "page_size"),
    ({"subject_contains": "  "}, "subject_contains"),
])
def test_bad_or_refused_filters_raise_before_anything_is_sent(
        outlook_emulator: Any, hans: Session, filters: dict[str, Any], field: str) -> None:
    since = last_seq(outlook_emulator)
    with pytest.raises(ConfigError) as info:
        hans.mail.list("Inbox/Vertrieb", **filters)  # raised at the call, not when iterated
    assert info.value.field == field and info.value.advice
    assert graph_calls(outlook_emulator, since) == []


def test_bad_folder_and_id_send_nothing_unknown_ones_say_what_is_missing(
        outlook_emulator: Any, hans: Session) -> None:
    since = last_seq(outlook_emulator)
    for bad in ("Inbox//Vertrieb", "../Inbox"):
        with pytest.raises(ConfigError) as info:
            hans.mail.list(bad)
        assert info.value.field == "folder"
    for bad_id in ("", "abc/../../x", "id with spaces"):
        with pytest.raises(ConfigError) as info:
            hans.mail.get(bad_id)
        assert info.value.field == "id"
    with pytest.raises(ConfigError):
        hans.mail.get("AAMkAGQ1", body_type="rtf")
    assert graph_calls(outlook_emulator, since) == []
    with pytest.raises(NotFoundError):
        list(hans.mail.list("Inbox/Einkauf"))
    with pytest.raises(NotFoundError):
        hans.mail.get("AAMkAGI1AAAAAAEMAAAAAA" + "A" * 40)


def test_get_one_email_with_every_field_and_either_body(outlook_emulator: Any,
                                                        hans: Session) -> None:
    first = next(iter(hans.mail.list("Inbox", fields=["subject"])))
    email = hans.mail.get(first.id)
    assert email.id == first.id and email.subject == "Angebot"
    assert email.from_ is not None and email.from_.address == "vertrieb@kunde.example"
    assert [a.address for a in email.to] == [HANS]
    assert email.received is not None and email.internet_message_id
    assert email.conversation_id and email.folder_id and email.body_type == "text"
    hans.graph_request("PATCH", f"/users/{HANS}/messages/{first.id}",
                       json={"body": {"contentType": "html",
                                      "content": "<p>Guten <b>Tag</b></p>"}})
    html = hans.mail.get(first.id, body_type="html")
    assert html.body_html is not None and "<b>Tag</b>" in html.body_html
    assert hans.mail.get(first.id).body_text == "Guten Tag"
    only = hans.mail.get(first.id, fields=["subject", "is_read"])
    assert only.subject == "Angebot" and only.is_read is False and only.body is None


def test_the_async_twin_lists_and_gets(outlook_emulator: Any, hans: Session) -> None:
    _seed(outlook_emulator)

    async def main() -> tuple[list[int], str | None]:
        got = [e async for e in hans.aio.mail.list("Inbox/Vertrieb", status="unread",
                                                   page_size=5, limit=7)]
        one = await hans.aio.mail.get(got[0].id)
        return _numbers(got), one.subject

    numbers, subject = asyncio.run(main())
    assert numbers == [23, 22, 20, 19, 17, 16, 14] and subject == "Bericht 23"
    with pytest.raises(ConfigError):
        hans.aio.mail.list("Inbox", search="x", status="read")


def _listed_by_then(emulator: Any, since: int, pages: int) -> bool:
    """Whether the emulator receives ``pages`` listing requests within 10 s, waiting without
    giving the caller's event loop a turn (as a caller busy with a page does)."""
    deadline = time.monotonic() + 10
    while _lists(emulator, since) < pages:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_the_async_listing_asks_for_the_next_page_before_the_caller_works_through_one(
        outlook_emulator: Any, hans: Session) -> None:
    # the next page's request must be on the wire when the caller gets a page's first
    # Email: a caller that then keeps the event loop busy (turning 1,000 items into Emails,
    # or here a blocking wait) must not hold it back
    _seed(outlook_emulator)
    hans.folders.get("Inbox/Vertrieb")  # count only the listing's requests

    async def main() -> list[bool]:
        since = last_seq(outlook_emulator)
        out, n = [], 0
        async for _ in hans.aio.mail.list("Inbox/Vertrieb", fields=["subject"], page_size=10):
            n += 1
            if n in (1, 11):  # the first Email of pages 1 and 2: pages 2 and 3 are asked for
                out.append(_listed_by_then(outlook_emulator, since, 2 if n == 1 else 3))
        return out

    assert asyncio.run(main()) == [True, True]


def test_cli_lists_gets_and_refuses_bad_filters(outlook_emulator: Any, cli: dict[str, Any]) -> None:
    _seed(outlook_emulator)
    listed = run_cli(["mail", "list", "--folder", "Inbox/Vertrieb", "--unread", "--from",
                      "shop@kunde.example", "--since", "2026-11-02", "--fields",
                      "subject,from,received", "--json", *cli["connect"]], cli["env"])
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [r["subject"] for r in rows] == ["Rechnung 20", "Rechnung 16", "Rechnung 8",
                                           "Rechnung 4"]
    # the sender under the name --fields gave it, not Python's from_
    assert rows[0]["from"]["address"] == "shop@kunde.example" and "from_" not in rows[0]
    table = run_cli(["mail", "list", "--folder", "Inbox/Vertrieb", "--search", "Rechnung",
                     "--has-attachments", "--limit", "2", *cli["connect"]], cli["env"])
    assert table.returncode == 0, table.stderr
    assert "Rechnung 12" in table.stdout and "2 message(s)" in table.stdout
    got = run_cli(["mail", "get", rows[0]["id"], "--json", *cli["connect"]], cli["env"])
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["body"] == "Nachricht 20"
    since = last_seq(outlook_emulator)
    bad = run_cli(["mail", "list", "--search", "Rechnung", "--unread", *cli["connect"]],
                  cli["env"])
    # named as typed: --unread (or --read) sets the API's status
    assert bad.returncode == 2 and bad.stderr.startswith("Error: --unread/--read: ")
    assert "Fix: " in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert graph_calls(outlook_emulator, since) == []  # refused before signing in


@pytest.mark.parametrize(("args", "named"), [
    (["mail", "list", "--since", "yesterday"], "--since"),
    (["mail", "list", "--until", "2026-13-01"], "--until"),
    (["mail", "list", "--fields", "subject,colour"], "--fields"),
    (["mail", "list", "--from", "bob@@contoso.com"], "--from"),
    (["mail", "move", "--to", "Archive", "--subject", "x", "--since", "soon"], "--since"),
    (["mail", "list", "--folder", "Nirgendwo"], "--folder"),
])
def test_cli_errors_name_the_option_that_was_typed(outlook_emulator: Any, cli: dict[str, Any],
                                                   args: list[str], named: str) -> None:
    # the API's error says received_since; the user typed --since
    since = last_seq(outlook_emulator)
    proc = run_cli([*args, *cli["connect"]], cli["env"])
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"Error: {named}: ") and " Fix: " in lines[0], lines[0]
    # nothing changed: at most the folder lookups were sent
    assert [c for c in graph_calls(outlook_emulator, since) if c["method"] != "GET"] == []


def test_other_modules_add_their_commands_to_the_mail_group(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    import click
    from click.testing import CliRunner

    from m365bot.cli import mail as mail_cli
    from m365bot.cli.main import cli

    @click.command("move-all")
    def move_all() -> None:
        click.echo("moved")

    extension = types.ModuleType("m365bot.cli.mail_bulk")
    extension.COMMANDS = (move_all,)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "m365bot.cli.mail_bulk", extension)
    monkeypatch.setattr(mail_cli, "EXTENSIONS", (*mail_cli.EXTENSIONS, "m365bot.cli.mail_bulk"))
    monkeypatch.setattr(mail_cli.mail, "_loaded", False)
    monkeypatch.setattr(mail_cli.mail, "commands", dict(mail_cli.mail.commands))
    runner = CliRunner()
    listed = runner.invoke(cli, ["mail", "--help"]).output
    assert all(name in listed for name in ("list", "get", "watch", "move-all"))
    assert runner.invoke(cli, ["mail", "move-all"]).output == "moved\n"

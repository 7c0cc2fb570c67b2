"""session.mail.send against the emulator over HTTPS: recipients, bodies, attachments of every
size, shared mailboxes, Sent Items on and off, and bad input that sends nothing."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from outlook_support import HANS, OPS, graph_calls, last_seq
from send_support import ALICE, BOB, OUTSIDE, attachment_bytes, copies, received

from m365bot.errors import ConfigError
from m365bot.outlook.upload import MAX_SIZE


def test_send_reaches_to_cc_and_bcc_once_and_keeps_a_copy(outlook_emulator: Any, hans: Any) -> None:
    r = hans.mail.send(to=f"Alice <{ALICE}>; {OUTSIDE}", cc=[BOB], bcc=OPS,
                       reply_to="replies@kunde.example", subject="Quarterly report",
                       body="<p>See <b>attached</b></p>", html=True, importance="high")
    assert r.ok and r.status == "sent" and r.attempts == 1
    (alice,) = received(outlook_emulator, ALICE, r.internet_message_id)
    assert alice.props["subject"] == "Quarterly report"
    assert alice.props["body"] == {"contentType": "html", "content": "<p>See <b>attached</b></p>"}
    assert alice.props["importance"] == "high"
    assert [x["emailAddress"]["address"] for x in alice.props["replyTo"]] == [
        "replies@kunde.example"]
    assert alice.props["bccRecipients"] == [], "Bcc is hidden from the recipients"
    assert len(received(outlook_emulator, BOB, r.internet_message_id)) == 1
    assert len(received(outlook_emulator, OPS, r.internet_message_id)) == 1
    assert [o["to"] for o in outlook_emulator.control.outbound()] == [[OUTSIDE]]
    assert len(copies(outlook_emulator, HANS, r.internet_message_id, "sentitems")) == 1
    assert copies(outlook_emulator, HANS, r.internet_message_id, "drafts") == []


def test_attachments_of_every_size_arrive_byte_identical(outlook_emulator: Any, hans: Any,
                                                         tmp_path: Path) -> None:
    small = tmp_path / "notes.txt"
    small.write_bytes(b"small file\n")
    middle = tmp_path / "scan.pdf"          # under 3 MB, over the inline budget: its own POST
    middle.write_bytes(os.urandom(2_900_000))
    big = tmp_path / "video.bin"            # an upload session, two chunks
    big.write_bytes(os.urandom(5 * 1024 * 1024 + 17))
    r = hans.mail.send(to=ALICE, subject="Files", body="Three files",
                       attachments=[small, str(middle), big, ("hello.csv", b"a,b\n1,2\n")])
    (got,) = received(outlook_emulator, ALICE, r.internet_message_id)
    files = attachment_bytes(got)
    assert files == {"notes.txt": small.read_bytes(), "scan.pdf": middle.read_bytes(),
                     "video.bin": big.read_bytes(), "hello.csv": b"a,b\n1,2\n"}
    assert outlook_emulator.control.count("uploadSession.create") == 1
    # scan.pdf; the small ones rode along
    assert outlook_emulator.control.count("attachments.create") == 1


def test_missing_file_can_be_skipped(outlook_emulator: Any, hans: Any, tmp_path: Path) -> None:
    there = tmp_path / "there.txt"
    there.write_text("here")
    r = hans.mail.send(to=ALICE, subject="Skip", body="x", missing_attachments="skip",
                       attachments=[there, tmp_path / "gone.pdf"])
    assert r.skipped == (str(tmp_path / "gone.pdf"),)
    (got,) = received(outlook_emulator, ALICE, r.internet_message_id)
    assert list(attachment_bytes(got)) == ["there.txt"]


@pytest.fixture
def huge(tmp_path: Path) -> Path:
    path = tmp_path / "huge.iso"
    with open(path, "wb") as f:   # sparse: no disk used
        f.truncate(MAX_SIZE + 1)
    return path


BAD_INPUT = [
    ({"to": "alice@contoso"}, "to"),
    ({"to": [ALICE, "not an address"]}, "to"),
    ({"to": ALICE, "cc": "bob@contoso.onmicrosoft.com, <x@@y.com>"}, "cc"),
    ({"to": ALICE, "bcc": "bob at contoso.com"}, "bcc"),
    ({"to": ALICE, "reply_to": "a@b.com\nBcc: evil@x.com"}, "reply_to"),
    ({"to": None}, "to"),
    ({"to": ALICE, "importance": "urgent"}, "importance"),
    ({"to": ALICE, "from_mailbox": "ops"}, "from_mailbox"),
    ({"to": ALICE, "send_as": "impersonate", "from_mailbox": OPS}, "send_as"),
    ({"to": ALICE, "attachments": ["/nonexistent/report.pdf"]}, "attachments"),
    ({"to": ALICE, "attachments": [("../../etc/passwd", b"x")]}, "attachments"),
    ({"to": ALICE, "attachments": [("..", b"x")]}, "attachments"),
    ({"to": ALICE, "attachments": [("a\\..\\b.txt", b"x")]}, "attachments"),
    ({"to": ALICE, "missing_attachments": "ignore"}, "missing_attachments"),
]


@pytest.mark.parametrize(("kwargs", "field"), BAD_INPUT,
                         ids=[f"{f}-{i}" for i, (_, f) in enumerate(BAD_INPUT)])
def test_bad_input_names_the_field_and_sends_nothing(outlook_emulator: Any, hans: Any,
                                                     kwargs: dict[str, Any],
                                                     field: str) -> None:
    since = last_seq(outlook_emulator)
    with pytest.raises(ConfigError) as info:
        hans.mail.send(subject="Bad", body="x", **kwargs)
    assert info.value.field == field and info.value.advice
    assert graph_calls(outlook_emulator, since) == [], "nothing was sent"


def test_attachment_over_150_mb_is_refused_before_anything_is_sent(outlook_emulator: Any, hans: Any,
                                                                    huge: Path) -> None:
    since = last_seq(outlook_emulator)
    with pytest.raises(ConfigError, match="150 MB") as info:
        hans.mail.send(to=ALICE, subject="Too big", attachments=[huge])
    assert info.value.field == "attachments"
    with pytest.raises(ConfigError, match="total"):   # each fits, together they do not
        hans.mail.send(to=ALICE, subject="Too big", attachments=[
            ("a.bin", b"\0" * (MAX_SIZE // 2 + 1)), ("b.bin", b"\0" * (MAX_SIZE // 2 + 1))])
    assert graph_calls(outlook_emulator, since) == []


def test_send_as_the_shared_mailbox(outlook_emulator: Any, hans: Any) -> None:
    r = hans.mail.send(to=ALICE, subject="As ops", body="x", from_mailbox=OPS)
    (got,) = received(outlook_emulator, ALICE, r.internet_message_id)
    assert got.props["from"]["emailAddress"]["address"] == OPS
    assert got.props["sender"]["emailAddress"]["address"] == OPS
    assert r.mailbox == OPS
    assert len(copies(outlook_emulator, OPS, r.internet_message_id, "sentitems")) == 1
    assert copies(outlook_emulator, HANS, r.internet_message_id) == [], "made in the shared mailbox"


def test_send_on_behalf_of_the_shared_mailbox(outlook_emulator: Any, hans: Any) -> None:
    r = hans.mail.send(to=ALICE, subject="For ops", body="x", from_mailbox=OPS,
                       send_as="send_on_behalf")
    (got,) = received(outlook_emulator, ALICE, r.internet_message_id)
    assert got.props["from"]["emailAddress"]["address"] == OPS
    assert got.props["sender"]["emailAddress"]["address"] == HANS
    assert len(copies(outlook_emulator, HANS, r.internet_message_id, "sentitems")) == 1


def test_save_to_sent_items_off_keeps_no_copy(outlook_emulator: Any, hans: Any) -> None:
    r = hans.mail.send(to=ALICE, subject="No copy", body="x", save_to_sent_items=False)
    assert r.ok
    assert len(received(outlook_emulator, ALICE, r.internet_message_id)) == 1
    assert copies(outlook_emulator, HANS,
                  r.internet_message_id) == [], "no Sent Items copy, no draft"


def test_async_send(outlook_emulator: Any, hans: Any) -> None:
    async def main() -> Any:
        return await hans.aio.mail.send(to=[ALICE, BOB], subject="Async", body="x",
                                        attachments=[("big.bin", b"\1" * 3_500_000)])

    r = asyncio.run(main())
    assert r.ok
    (got,) = received(outlook_emulator, ALICE, r.internet_message_id)
    assert attachment_bytes(got) == {"big.bin": b"\1" * 3_500_000}
    assert len(received(outlook_emulator, BOB, r.internet_message_id)) == 1

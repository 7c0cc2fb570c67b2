"""session.mail.reply / reply_all / forward against the emulator: who gets the answer, the
comment or full body, added attachments, cc and bcc, exclude_sender, bad input, and the same
at-most-once rule as send."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from outlook_support import HANS, graph_calls, last_seq
from send_support import ALICE, BOB, OUTSIDE, attachment_bytes, copies, received

from m365bot.errors import ConfigError, NotFoundError
from m365bot.outlook.models import Email


@pytest.fixture
def original(outlook_emulator: Any, session_for: Any) -> str:
    """A message Alice sent to Hans (cc Bob and an outside address), as Hans's Inbox has it."""
    alice = session_for(ALICE)
    sent = alice.mail.send(to=HANS, cc=[BOB, OUTSIDE], subject="Offer 42", body="Our offer.",
                           attachments=[("offer.txt", b"42 EUR")])
    (msg,) = received(outlook_emulator, HANS, sent.internet_message_id)
    return str(msg.id)


def _addresses(message: Any, key: str) -> list[str]:
    return sorted(r["emailAddress"]["address"] for r in message.props.get(key) or [])


def test_reply_goes_to_the_sender_with_the_comment(outlook_emulator: Any, hans: Any,
                                                   original: str) -> None:
    r = hans.mail.reply(original, comment="Thanks, accepted.", cc=OUTSIDE)
    (got,) = received(outlook_emulator, ALICE, r.internet_message_id)
    assert got.props["subject"] == "RE: Offer 42"
    assert got.props["body"]["content"].startswith("Thanks, accepted.")
    assert "Our offer." in got.props["body"]["content"], "the original is quoted"
    assert received(outlook_emulator, BOB, r.internet_message_id) == []
    assert _addresses(got, "ccRecipients") == [OUTSIDE]
    assert len(copies(outlook_emulator, HANS, r.internet_message_id, "sentitems")) == 1


def test_reply_all_reaches_everyone_and_can_leave_out_the_sender(outlook_emulator: Any, hans: Any,
                                                                 original: str) -> None:
    r = hans.mail.reply_all(original, comment="All: agreed.")
    assert len(received(outlook_emulator, ALICE, r.internet_message_id)) == 1
    assert len(received(outlook_emulator, BOB, r.internet_message_id)) == 1
    r2 = hans.mail.reply_all(original, comment="Internal only.", exclude_sender=True,
                             bcc=ALICE.replace("alice", "ops"))
    assert received(outlook_emulator, ALICE, r2.internet_message_id) == [], "the sender is left out"
    (bob,) = received(outlook_emulator, BOB, r2.internet_message_id)
    assert ALICE not in _addresses(bob, "toRecipients") + _addresses(bob, "ccRecipients")
    assert len(received(outlook_emulator, "ops@contoso.onmicrosoft.com",
                        r2.internet_message_id)) == 1


def test_forward_with_a_full_html_body_and_an_added_attachment(outlook_emulator: Any, hans: Any,
                                                              original: str) -> None:
    r = hans.mail.forward(original, to=f"Bob <{BOB}>", body="<p>Please check</p>", html=True,
                          attachments=[("notes.txt", b"my notes"),
                                       ("big.bin", b"\7" * 3_100_000)])
    (got,) = received(outlook_emulator, BOB, r.internet_message_id)
    assert got.props["subject"] == "FW: Offer 42"
    assert got.props["body"] == {"contentType": "html", "content": "<p>Please check</p>"}
    assert attachment_bytes(got) == {"offer.txt": b"42 EUR", "notes.txt": b"my notes",
                                     "big.bin": b"\7" * 3_100_000}


def test_reply_applied_then_answer_lost_is_sent_once(outlook_emulator: Any, hans: Any,
                                                     original: str) -> None:
    outlook_emulator.control.add_fault(op="messages.send", kind="apply_then_status", status=504,
                                       nth=1)
    outlook_emulator.control.add_fault(op="messages.createReply", kind="apply_then_reset", nth=1)
    r = hans.mail.reply(original, comment="Once")
    assert r.status == "sent"
    assert len(received(outlook_emulator, ALICE, r.internet_message_id)) == 1
    assert copies(outlook_emulator, HANS, r.internet_message_id, "drafts") == []


def test_reply_with_an_email_object_and_async(outlook_emulator: Any, hans: Any,
                                              original: str) -> None:
    email = Email.from_graph({"id": original})

    async def main() -> Any:
        return await hans.aio.mail.reply_all(email, body="Full body", exclude_sender=False)

    r = asyncio.run(main())
    (got,) = received(outlook_emulator, ALICE, r.internet_message_id)
    assert got.props["body"]["content"] == "Full body"


BAD = [
    (lambda m: m.reply("not/an id?", comment="x"), "message_id"),
    (lambda m: m.reply("", comment="x"), "message_id"),
    (lambda m: m.forward("AAMkAD", to=None, comment="x"), "to"),
    (lambda m: m.forward("AAMkAD", to="bob@@x", comment="x"), "to"),
    (lambda m: m.reply("AAMkAD", comment="x", body="y"), "body"),
    (lambda m: m.reply_all("AAMkAD", cc="nope"), "cc"),
    (lambda m: m.reply("AAMkAD", attachments=["/no/such/file.pdf"]), "attachments"),
    (lambda m: m.forward("AAMkAD", to=BOB, attachments=[("../x.txt", b"1")]), "attachments"),
]


@pytest.mark.parametrize(("call", "field"), BAD, ids=[f"{f}-{i}" for i, (_, f) in
                                                      enumerate(BAD)])
def test_bad_input_sends_nothing(outlook_emulator: Any, hans: Any, call: Any, field: str) -> None:
    since = last_seq(outlook_emulator)
    with pytest.raises(ConfigError) as info:
        call(hans.mail)
    assert info.value.field == field
    assert graph_calls(outlook_emulator, since) == []


def test_unknown_message_is_not_found(outlook_emulator: Any, hans: Any) -> None:
    with pytest.raises(NotFoundError):
        hans.mail.reply("AAMkADI0OThmNjY1LTg2YjctNTY5ZS1iYTA3LTlmYzMwOWJkNGI5NgBGAAAAAAA",
                        comment="x")
    assert outlook_emulator.control.count("messages.send") == 0

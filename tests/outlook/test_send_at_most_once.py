"""No duplicate send (issue 8, Reliability): a send whose answer is lost after the server
carried it out (504, reset, timeout, 202 + Retry-After, 429) reaches the recipient exactly
once, as the emulator's inspection shows; a lost create makes one draft; a send that was not
carried out is sent again once; what cannot be told is reported, never sent twice."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from outlook_support import HANS, demo_app, demo_secret
from send_support import ALICE, copies, received

import m365bot
from m365bot.outlook.send import SendError
from m365bot.values import Secret

LOST_ANSWERS = [
    {"kind": "apply_then_status", "status": 504},
    {"kind": "apply_then_reset"},
    {"kind": "apply_then_status", "status": 202, "retry_after": 2},
    {"kind": "apply_then_status", "status": 429, "retry_after": 1},
    {"kind": "apply_then_status", "status": 503},
]


def _sent_once(emulator: Any, r: Any) -> None:
    assert r.status == "sent"
    assert len(received(emulator, ALICE, r.internet_message_id)) == 1, "exactly one mail"
    assert len([s for s in emulator.control.sent() if s.get("op") == "messages.send"]) == 1
    assert copies(emulator, HANS, r.internet_message_id, "drafts") == [], "no draft left behind"


@pytest.mark.parametrize("fault", LOST_ANSWERS, ids=lambda f: f"{f['kind']}-{f.get('status')}")
def test_send_applied_then_answer_lost_reaches_the_recipient_once(outlook_emulator: Any, hans: Any,
                                                                  fault: dict[str, Any]) -> None:
    outlook_emulator.control.add_fault(op="messages.send", nth=1, **fault)
    r = hans.mail.send(to=ALICE, subject="Once", body="x",
                       attachments=[("a.txt", b"attached")])
    _sent_once(outlook_emulator, r)


def test_send_timeout_after_the_server_sent_it(outlook_emulator: Any,
                                               outlook_settings: Any) -> None:
    quick = dataclasses.replace(outlook_settings, timeout=1.5)
    app = demo_app(outlook_emulator.info)
    session = m365bot.connect(cloud="global", mode="client-credentials",
                              client_id=app["client_id"], tenant_id=app["tenant_id"],
                              username=HANS, client_secret=Secret(demo_secret(app)),
                              settings=quick)
    try:
        outlook_emulator.control.add_fault(op="messages.send", kind="apply_then_slow",
                                           delay_ms=4000, nth=1)
        r = session.mail.send(to=ALICE, subject="Slow", body="x")
        _sent_once(outlook_emulator, r)
        assert r.reason and "lost" in r.reason
    finally:
        m365bot.disconnect(session)


def test_save_off_lost_answer_is_still_told_sent(outlook_emulator: Any, hans: Any) -> None:
    """With no Sent Items copy, the draft's disappearance is what says it went out."""
    outlook_emulator.control.add_fault(op="messages.send", kind="apply_then_reset", nth=1)
    r = hans.mail.send(to=ALICE, subject="No copy", body="x", save_to_sent_items=False)
    assert r.status == "sent"
    assert len(received(outlook_emulator, ALICE, r.internet_message_id)) == 1
    assert copies(outlook_emulator, HANS, r.internet_message_id) == []


def test_send_not_carried_out_is_sent_once_more(outlook_emulator: Any, hans: Any) -> None:
    outlook_emulator.control.add_fault(op="messages.send", kind="reset", nth=1)
    r = hans.mail.send(to=ALICE, subject="Again", body="x")
    assert r.status == "sent" and r.attempts == 2
    _sent_once(outlook_emulator, r)


def test_send_refused_twice_unapplied_is_sent_on_the_third_try(outlook_emulator: Any,
                                                               hans: Any) -> None:
    """Two 503s in a row (common at a 10% rate) are checked and retried, not a failure."""
    outlook_emulator.control.add_fault(op="messages.send", kind="status", status=503, nth=1,
                                       count=2)
    r = hans.mail.send(to=ALICE, subject="Third time", body="x")
    assert r.attempts == 3
    _sent_once(outlook_emulator, r)


def test_create_refused_twice_unapplied_makes_one_draft(outlook_emulator: Any, hans: Any) -> None:
    outlook_emulator.control.add_fault(op="messages.create", kind="status", status=503, nth=1,
                                       count=2)
    r = hans.mail.send(to=ALICE, subject="Third create", body="x")
    _sent_once(outlook_emulator, r)
    assert outlook_emulator.control.count("messages.create") == 3


def test_attachment_post_refused_twice_arrives_once(outlook_emulator: Any, hans: Any) -> None:
    outlook_emulator.control.add_fault(op="attachments.create", kind="reset", nth=1, count=2)
    r = hans.mail.send(to=ALICE, subject="Third post", body="x",
                       attachments=[("a.bin", b"a" * 2_000_000), ("b.bin", b"b" * 2_000_000)])
    (got,) = received(outlook_emulator, ALICE, r.internet_message_id)
    assert sorted(a.props["name"] for a in got.attachments) == ["a.bin", "b.bin"]


def test_create_applied_then_answer_lost_makes_one_draft(outlook_emulator: Any, hans: Any) -> None:
    outlook_emulator.control.add_fault(op="messages.create", kind="apply_then_status", status=504,
                                       nth=1)
    r = hans.mail.send(to=ALICE, subject="One draft", body="x")
    _sent_once(outlook_emulator, r)
    assert outlook_emulator.control.count("messages.create") == 1, \
        "the draft was found, not made again"


@pytest.mark.parametrize("kind", ["send", "reply"])
def test_create_applied_then_throttled_leaves_no_second_draft(outlook_emulator: Any, hans: Any,
                                                              kind: str) -> None:
    """Outlook can answer 429 to a create it carried out: the retry finds that draft by its
    internetMessageId and uses it, so no unsent draft is left behind in Drafts."""
    if kind == "reply":
        first = hans.mail.send(to=HANS, subject="Ask me", body="x")
        [original] = copies(outlook_emulator, HANS, first.internet_message_id, "inbox")
        fault_op = "messages.createReply"
    else:
        fault_op = "messages.create"
    outlook_emulator.control.add_fault(op=fault_op, kind="apply_then_status", status=429,
                                       retry_after=1, nth=1)
    if kind == "reply":
        r = hans.mail.reply(original.id, comment="Answer")
    else:
        r = hans.mail.send(to=ALICE, subject="Throttled create", body="x")
    assert r.status == "sent"
    assert outlook_emulator.control.count(fault_op) == 1, "the draft was found, not made again"
    drafts = copies(outlook_emulator, HANS, r.internet_message_id, "drafts")
    assert drafts == [], "no draft left behind"
    if kind == "send":
        _sent_once(outlook_emulator, r)


def test_attachment_post_applied_then_lost_is_not_added_twice(outlook_emulator: Any,
                                                              hans: Any) -> None:
    outlook_emulator.control.add_fault(op="attachments.create", kind="apply_then_reset", nth=1)
    r = hans.mail.send(to=ALICE, subject="One file", body="x",
                       attachments=[("a.bin", b"a" * 2_000_000), ("b.bin", b"b" * 2_000_000)])
    (got,) = received(outlook_emulator, ALICE, r.internet_message_id)
    assert sorted(a.props["name"] for a in got.attachments) == ["a.bin", "b.bin"]


def test_upload_reset_during_chunk_3_resumes_byte_identical(outlook_emulator: Any, hans: Any,
                                                           tmp_path: Path) -> None:
    data = bytes(range(256)) * (12 * 1024 * 1024 // 256) + b"tail"   # 4 chunks of 4 MiB
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    outlook_emulator.control.add_fault(op="uploadSession.put", kind="reset", nth=3)
    r = hans.mail.send(to=ALICE, subject="Resumed", body="x", attachments=[path])
    (got,) = received(outlook_emulator, ALICE, r.internet_message_id)
    assert got.attachments[0].props["name"] == "big.bin"
    from send_support import attachment_bytes

    assert attachment_bytes(got)["big.bin"] == data
    assert outlook_emulator.control.count("uploadSession.create") == 1, "resumed, not started again"


def test_last_chunk_applied_then_lost_keeps_one_attachment(outlook_emulator: Any,
                                                           hans: Any) -> None:
    outlook_emulator.control.add_fault(op="uploadSession.put", kind="apply_then_reset", nth=2)
    r = hans.mail.send(to=ALICE, subject="Last chunk", body="x",
                       attachments=[("big.bin", b"z" * 5_000_000)])
    (got,) = received(outlook_emulator, ALICE, r.internet_message_id)
    assert [a.props["name"] for a in got.attachments] == ["big.bin"]


def test_refused_send_is_not_sent_and_leaves_no_draft(outlook_emulator: Any, hans: Any) -> None:
    outlook_emulator.control.add_fault(op="messages.send", kind="status", status=403,
                                       code="ErrorAccessDenied", nth=1)
    with pytest.raises(SendError) as info:
        hans.mail.send(to=ALICE, subject="Refused", body="x")
    result = info.value.result
    assert result.status == "not sent"
    assert received(outlook_emulator, ALICE, result.internet_message_id) == []
    assert copies(outlook_emulator, HANS, result.internet_message_id,
                  "drafts") == [], "draft removed"
    assert copies(outlook_emulator, HANS, result.internet_message_id, "sentitems") == []


def test_unknown_when_the_check_cannot_be_made(outlook_emulator: Any, hans: Any) -> None:
    outlook_emulator.control.add_fault(op="messages.send", kind="apply_then_reset", nth=1)
    outlook_emulator.control.add_fault(op="messages.get", kind="reset", count=5)
    outlook_emulator.control.add_fault(op="messages.list", kind="reset", count=5)
    with pytest.raises(SendError, match="unknown: check Sent Items") as info:
        hans.mail.send(to=ALICE, subject="Unknown", body="x")
    result = info.value.result
    assert result.status == "unknown: check Sent Items"
    assert info.value.advice and result.internet_message_id in info.value.advice
    assert len(received(outlook_emulator, ALICE,
                        result.internet_message_id)) == 1, "never sent twice"

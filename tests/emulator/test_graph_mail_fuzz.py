"""Bad input on the mail endpoints: malformed JSON, unknown properties, wrong types, oversized
bodies, random bodies and query strings. Always Graph's 4xx envelope, never a 500, and a
refused write changes nothing."""

from __future__ import annotations

import json
import random
import string
from typing import Any

import pytest
from graphx_support import GX
from mail_support import ALICE, BOB, err, unique


@pytest.fixture(scope="module")
def target(gx: GX) -> str:
    """A draft of Alice's that the write endpoints aim at."""
    r = gx.post(f"/users/{ALICE}/messages", json={"subject": unique("fuzz")})
    assert r.status_code == 201
    return str(r.json()["id"])


def _count(emulator: Any) -> int:
    return len(emulator.state.mailbox(ALICE).messages)


@pytest.mark.parametrize(("body", "code", "needle"), [
    (b"{not json", "BadRequest", "valid JSON"),
    (b"", "BadRequest", "Empty Payload"),
    (b'{"subject": "x", "colour": "red"}', "RequestBodyRead", "'colour'"),
    (b'{"subject": 42}', "RequestBodyRead", "'subject'"),
    (b'{"toRecipients": "bob"}', "RequestBodyRead", "'toRecipients'"),
    (b'{"toRecipients": [{"address": "bob@x.com"}]}', "RequestBodyRead", "emailAddress"),
    (b'{"importance": "urgent"}', "RequestBodyRead", "'urgent'"),
    (b'{"body": {"contentType": "rtf", "content": "x"}}', "RequestBodyRead", "'rtf'"),
    (b'{"isRead": "yes"}', "RequestBodyRead", "'isRead'"),
    (b'{"flag": {"flagStatus": "maybe"}}', "RequestBodyRead", "'maybe'"),
    (b'{"categories": [1, 2]}', "RequestBodyRead", "'categories'"),
    (b'[1, 2, 3]', "RequestBodyRead", "JSON object"),
    (b'{"internetMessageHeaders": [{"name": "Subject", "value": "x"}]}',
     "InvalidInternetMessageHeader", "x-"),
    (b"[" * 5000 + b"]" * 5000, "BadRequest", "valid JSON"),
])
def test_bad_draft_bodies_name_the_problem(gx: GX, emulator: Any, body: bytes, code: str,
                                           needle: str) -> None:
    before = _count(emulator)
    r = gx.post(f"/users/{ALICE}/messages", content=body,
                headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert err(r) == code and needle in r.json()["error"]["message"]
    assert _count(emulator) == before


def test_oversized_json_is_refused(gx: GX, emulator: Any) -> None:
    before = _count(emulator)
    big = json.dumps({"subject": "big", "body": {"contentType": "text",
                                                 "content": "x" * (5 * 1024 * 1024)}})
    r = gx.post(f"/users/{ALICE}/messages", content=big.encode(),
                headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and err(r) == "BadRequest"
    assert r.json()["error"]["message"].startswith("The maximum request length supported is 4MB.")
    assert _count(emulator) == before


def test_bad_action_parameters(gx: GX, target: str) -> None:
    base = f"/users/{ALICE}/messages/{target}"
    cases = [
        ("move", {}, "destinationId"),
        ("move", {"destinationId": 7}, "destinationId"),
        ("copy", {"folder": "inbox"}, "'folder'"),
        ("createReply", {"comment": 5}, "comment"),
        ("createForward", {"toRecipients": "x"}, "toRecipients"),
    ]
    for action, body, needle in cases:
        r = gx.post(f"{base}/{action}", json=body)
        assert r.status_code == 400, (action, r.text)
        assert needle in r.json()["error"]["message"], (action, r.text)
    for body in ({}, {"message": "hi"}, {"message": {"subject": "no recipients"}},
                 {"message": {"toRecipients": [{"emailAddress": {"address": "not an address"}}]}},
                 {"message": {"subject": "x"}, "saveToSentItems": "perhaps"},
                 {"message": {"subject": "x"}, "unknownFlag": True}):
        r = gx.post(f"/users/{ALICE}/sendMail", json=body)
        assert r.status_code == 400, (body, r.text)


def test_sent_message_recipients_cannot_be_patched(gx: GX) -> None:
    inbox = gx.get(f"/users/{ALICE}/mailFolders/inbox/messages", params={"$top": "1"})
    mid = inbox.json()["value"][0]["id"]
    r = gx.patch(f"/users/{ALICE}/messages/{mid}",
                 json={"toRecipients": [{"emailAddress": {"address": BOB}}]})
    assert r.status_code == 400 and err(r) == "ErrorInvalidPropertyUpdateSentMessage"
    ok = gx.patch(f"/users/{ALICE}/messages/{mid}", json={"categories": ["Seen"]})
    assert ok.status_code == 200 and ok.json()["categories"] == ["Seen"]


def _junk(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 3 else 5)
    if kind == 0:
        return rng.choice([None, True, False, 0, -1, 1e308, "", "Text", "HTML"])
    if kind == 1:
        return "".join(rng.choice(string.printable + "é€\u202e") for _ in range(rng.randrange(20)))
    if kind == 2:
        return rng.randrange(-10**6, 10**6)
    if kind == 3:
        return rng.choice(["inbox", "archive", "x" * 500, "AAMk" + "A" * 120, "../../etc"])
    if kind == 4:
        return {"emailAddress": {"address": rng.choice(["a@b.c", "bad", "", None])}}
    if kind == 5:
        return [_junk(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ["subject", "body", "toRecipients", "importance", "isRead", "flag", "categories",
            "destinationId", "DestinationId", "message", "comment", "saveToSentItems",
            "displayName", "from", "contentType", "content", "@odata.type", "zzz"]
    return {rng.choice(keys): _junk(rng, depth + 1) for _ in range(rng.randrange(5))}


def test_random_requests_never_500(gx: GX, emulator: Any, target: str) -> None:
    rng = random.Random(20261126)
    paths = [
        ("POST", f"/users/{ALICE}/messages"), ("PATCH", f"/users/{ALICE}/messages/{target}"),
        ("POST", f"/users/{ALICE}/sendMail"), ("POST", f"/users/{ALICE}/messages/{target}/move"),
        ("POST", f"/users/{ALICE}/messages/{target}/copy"),
        ("POST", f"/users/{ALICE}/messages/{target}/createReply"),
        ("POST", f"/users/{ALICE}/messages/{target}/createForward"),
        ("POST", f"/users/{ALICE}/mailFolders"), ("PATCH", f"/users/{ALICE}/mailFolders/inbox"),
        ("GET", f"/users/{ALICE}/messages"), ("GET", f"/users/{ALICE}/mailFolders/inbox/messages"),
        ("GET", f"/users/{ALICE}/mailFolders/inbox/messages/delta"),
        ("GET", f"/users/{ALICE}/mailFolders"),
    ]
    options = ["$filter", "$search", "$orderby", "$top", "$skip", "$select", "$count",
               "$skiptoken", "$deltatoken", "$expand", "includeHiddenFolders", "$bogus"]
    fragments = ["eq", "'", "(", ")", "subject", "isRead", "true", "and", "or", "not", "any",
                 "categories/any(c:c", "2026-01-01", "from:", '"', "received>=", "1000", "-5",
                 "receivedDateTime", "desc", ",", "contains(", "*", "%", "\x00"]
    statuses: set[int] = set()
    for _ in range(250):
        method, path = rng.choice(paths)
        params = {rng.choice(options): " ".join(rng.choice(fragments)
                                                for _ in range(rng.randrange(1, 6)))
                  for _ in range(rng.randrange(3))}
        if method == "GET":
            r = gx.call(method, path, params=params)
        elif rng.random() < 0.2:
            raw = bytes(rng.randrange(256) for _ in range(rng.randrange(60)))
            r = gx.call(method, path, content=raw, headers={"Content-Type": "application/json"})
        else:
            r = gx.call(method, path, json=_junk(rng))
        statuses.add(r.status_code)
        assert r.status_code < 500, (method, path, params, r.text[:300])
        if r.status_code >= 400:
            assert r.json()["error"]["code"], r.text
    assert statuses & {400, 404} and any(s < 300 for s in statuses)


def test_refused_patch_changes_nothing(gx: GX, target: str) -> None:
    before = gx.get(f"/users/{ALICE}/messages/{target}").json()
    r = gx.patch(f"/users/{ALICE}/messages/{target}",
                 json={"subject": "changed?", "attachments": []})
    assert r.status_code == 400 and "attachments" in r.json()["error"]["message"]
    after = gx.get(f"/users/{ALICE}/messages/{target}").json()
    assert after["subject"] == before["subject"] and after["changeKey"] == before["changeKey"]


def test_bad_scenario_mailbox_names_the_field(tmp_path: Any, emulator_data_dir: Any) -> None:
    from m365bot.emulator.runtime import Emulator
    from m365bot.emulator.scenario import ScenarioError

    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\ntenants:\n  - name: t\n    cloud: global\n    domain: t.example\n"
        "    users:\n      - name: u\n        password: P\n        mailbox:\n"
        "          messages: [{subject: x, to: someone@t.example}]\n")
    with pytest.raises(ScenarioError) as caught:
        Emulator(scenario=path, data_dir=emulator_data_dir, proxy_port=None)
    assert caught.value.field.endswith("messages[0].to")


def test_odd_header_values_still_give_mime(gx: GX) -> None:
    draft = gx.post(f"/users/{ALICE}/messages", json={
        "subject": "Line one\r\nBcc: victim@example.com", "toRecipients": [
            {"emailAddress": {"name": 'Odd "Name" <x>\n', "address": "odd@@example.com"}}],
        "internetMessageHeaders": [{"name": "x-weird:header", "value": "v\r\nInjected: 1"}],
        "body": {"contentType": "html", "content": "<p>é ✓</p>"}}).json()
    raw = gx.get(f"/users/{ALICE}/messages/{draft['id']}/$value")
    assert raw.status_code == 200
    head = raw.content.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in raw.content else raw.content
    assert b"\nBcc:" not in head and b"\nInjected:" not in head
    gx.delete(f"/users/{ALICE}/messages/{draft['id']}")


@pytest.mark.parametrize("mime", [
    b"\x00\xff\xfe garbage", b"Subject: only a subject", b"From: a\n\n",
    b"Content-Type: multipart/mixed; boundary=\"x\"\n\n--x\nContent-Type: text/plain\n",
    b"To: =?utf-8?b?broken?= <@>\nSubject: =?bogus?q?x?=\n\nbody",
])
def test_odd_mime_never_500(gx: GX, mime: bytes) -> None:
    import base64

    r = gx.post(f"/users/{ALICE}/sendMail", content=base64.b64encode(mime),
                headers={"Content-Type": "text/plain"})
    assert 400 <= r.status_code < 500, r.text

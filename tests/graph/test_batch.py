"""``$batch`` through the engine against the emulator: only the failed items are redone (429
always for idempotent items, 503/504 only when safe), a 403 is reported per item, an item
that answered 429 yet was applied is checked and not applied twice, ``dependsOn`` chains
stay together, and 45 items go out 20 per call."""

from __future__ import annotations

import uuid
from typing import Any

from graph_support import INBOX, OPS, graph_records

from m365bot.graph import BatchItem
from m365bot.sessions import Session


def _ids(session: Session, n: int) -> list[str]:
    body = session.graph.get(INBOX, params={"$top": n, "$select": "id"}).body
    ids = [m["id"] for m in body["value"]]
    assert len(ids) == n
    return ids


def _drafts_with(session: Session, subject: str) -> int:
    found = session.graph.paginate(f"/users/{OPS}/mailFolders/drafts/messages",
                                   select=["id", "subject"])
    return sum(1 for m in found if m.get("subject") == subject)


def test_mixed_200_429_403_only_the_429s_are_redone(clean_emulator: Any, session: Session) -> None:
    a, b, c = _ids(session, 3)
    subject = f"batch {uuid.uuid4()}"  # a POST answered 429 although it was applied
    unchecked = f"batch unchecked {uuid.uuid4()}"
    clean_emulator.control.clear()  # records only from here
    items = [
        BatchItem("ok", "GET", f"/users/{OPS}/messages/{a}?$select=id"),
        BatchItem("throttled", "GET", f"/users/{OPS}/messages/{b}?$select=id"),
        BatchItem("denied", "GET", f"/users/{OPS}/messages/{c}?$select=id"),
        BatchItem("create", "POST", f"/users/{OPS}/messages", body={"subject": subject},
                  check=lambda: _drafts_with(session, subject) > 0),
    ]
    clean_emulator.control.add_fault(path=f"/v1.0/users/*/messages/{b}", kind="status", status=429,
                                     retry_after=1, count=1)
    clean_emulator.control.add_fault(path=f"/v1.0/users/*/messages/{c}", kind="status", status=403,
                                     code="ErrorAccessDenied")
    clean_emulator.control.add_fault(op="messages.create", kind="apply_then_status", status=429,
                                     count=1)
    results = session.graph.batch(items)
    by_id = {r.id: r for r in results}
    assert [r.id for r in results] == ["ok", "throttled", "denied", "create"]
    assert by_id["ok"].status == 200 and by_id["throttled"].status == 200
    assert by_id["denied"].status == 403 and by_id["denied"].error_code == "ErrorAccessDenied"
    assert not by_id["denied"].ok
    assert by_id["create"].applied and by_id["create"].ok  # found by its check
    assert _drafts_with(session, subject) == 1  # not created twice
    gets = graph_records(clean_emulator, op="messages.get")
    per_path = [r["path"].rsplit("/", 1)[-1] for r in gets]
    assert sorted(per_path) == sorted([a, b, b, c])  # only the 429 was sent again
    assert clean_emulator.control.count("batch") == 2
    # an unguarded POST that answered 429, without a check: reported, never redone blindly
    clean_emulator.control.add_fault(op="messages.create", kind="apply_then_status", status=429,
                                     count=1)
    [r] = session.graph.batch([BatchItem("x", "POST", f"/users/{OPS}/messages",
                                         body={"subject": unchecked})])
    assert r.status == 429 and not r.ok and _drafts_with(session, unchecked) == 1


def test_503_items_are_redone_only_when_safe(clean_emulator: Any, session: Session) -> None:
    (a,) = _ids(session, 1)
    clean_emulator.control.add_fault(op="messages.get", kind="status", status=503, retry_after=0,
                                     count=1)
    clean_emulator.control.add_fault(op="messages.create", kind="status", status=503, retry_after=0,
                                     count=2)
    subject = f"guarded {uuid.uuid4()}"
    results = session.graph.batch([
        BatchItem("get", "GET", f"/users/{OPS}/messages/{a}?$select=id"),
        BatchItem("post", "POST", f"/users/{OPS}/messages", body={"subject": "unsafe"}),
        BatchItem("guarded", "POST", f"/users/{OPS}/messages", body={"subject": subject},
                  guarded=True),
    ])
    status = {r.id: r.status for r in results}
    assert status == {"get": 200, "post": 503, "guarded": 201}
    assert _drafts_with(session, subject) == 1


def test_depends_on_chains_and_twenty_per_call(clean_emulator: Any, session: Session) -> None:
    ids = _ids(session, 3)
    items = [BatchItem(f"r{i}", "GET", f"/users/{OPS}/messages/{ids[i % 3]}?$select=id")
             for i in range(45)]
    # a chain that would straddle the first call's end stays whole in the second call
    items[19] = BatchItem("r19", "GET", f"/users/{OPS}/messages/{ids[0]}?$select=id",
                          depends_on=("r18",))
    results = session.graph.batch(items)
    assert [r.id for r in results] == [f"r{i}" for i in range(45)]
    assert all(r.status == 200 for r in results)
    assert clean_emulator.control.count("batch") == 3
    assert clean_emulator.control.count("messages.get") == 45


def test_items_refused_for_an_expired_token_are_redone_once_with_a_fresh_one(
        clean_emulator: Any, session: Session) -> None:
    a, b, c = _ids(session, 3)
    clean_emulator.control.add_fault(path=f"/v1.0/users/*/messages/{b}", kind="status", status=401,
                                     count=1, code="InvalidAuthenticationToken",
                                     message="Access token has expired or is not yet valid.")
    tokens = clean_emulator.control.count("token")
    items = [BatchItem(k, "GET", f"/users/{OPS}/messages/{m}?$select=id")
             for k, m in (("a", a), ("b", b), ("c", c))]
    results = session.graph.batch(items)
    assert [(r.id, r.status) for r in results] == [("a", 200), ("b", 200), ("c", 200)]
    assert clean_emulator.control.count("token") == tokens + 1  # one refresh
    per_path = [r["path"].rsplit("/", 1)[-1]
                for r in graph_records(clean_emulator, op="messages.get")]
    assert sorted(per_path) == sorted([a, b, b, c])  # only the refused item went again
    # refused again with the fresh token: reported, after that one refresh only
    clean_emulator.control.add_fault(path=f"/v1.0/users/*/messages/{a}", kind="status", status=401,
                                     count=5, code="InvalidAuthenticationToken")
    [r] = session.graph.batch(items[:1])
    assert r.status == 401 and r.error_code == "InvalidAuthenticationToken"
    assert clean_emulator.control.count("token") == tokens + 2
    assert clean_emulator.control.count("batch") == 4

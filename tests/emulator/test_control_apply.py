"""Faults that apply the operation and then lose or spoil its answer, as Graph sometimes does:
the tests prove the emulator did the work exactly once, so a client's retry would show."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from core_support import app_token, direct_client

from m365bot.emulator.runtime import Emulator

ALICE = "alice@contoso.onmicrosoft.com"
BOB = "bob@contoso.onmicrosoft.com"


@pytest.fixture
def client(private_emulator: Emulator) -> Iterator[httpx.Client]:
    private_emulator.reset()
    with direct_client(private_emulator) as c:
        c.headers["Authorization"] = "Bearer " + app_token(private_emulator, c)
        yield c


def _mail(subject: str, to: str) -> dict[str, Any]:
    return {"message": {"subject": subject, "body": {"contentType": "text", "content": "hi"},
                        "toRecipients": [{"emailAddress": {"address": to}}]}}


def _inbox_subjects(client: httpx.Client, mailbox: str) -> list[str]:
    r = client.get(f"/v1.0/users/{mailbox}/mailFolders/inbox/messages",
                   params={"$select": "subject", "$top": "100"})
    assert r.status_code == 200, r.text
    return [m["subject"] for m in r.json()["value"]]


def test_send_mail_answered_504_was_delivered_once(private_emulator: Emulator,
                                                   client: httpx.Client) -> None:
    private_emulator.control.add_fault(op="sendMail", kind="apply_then_status", status=504, nth=1)
    r = client.post(f"/v1.0/users/{ALICE}/sendMail", json=_mail("504 but sent", BOB))
    assert r.status_code == 504
    assert r.json()["error"]["code"] == "GatewayTimeout"
    assert _inbox_subjects(client, BOB).count("504 but sent") == 1
    sent = private_emulator.control.sent()
    assert len(sent) == 1 and sent[0]["status"] == 504 and sent[0]["applied"] is True
    via_api = client.get("/_emulator/sent").json()
    assert via_api["count"] == 1


def test_send_mail_with_dropped_connection_was_delivered_once(
    private_emulator: Emulator, client: httpx.Client
) -> None:
    private_emulator.control.add_fault(op="sendMail", kind="apply_then_reset", nth=1)
    with pytest.raises(httpx.TransportError):
        client.post(f"/v1.0/users/{ALICE}/sendMail", json=_mail("reset but sent", BOB))
    assert _inbox_subjects(client, BOB).count("reset but sent") == 1
    assert len(private_emulator.control.sent()) == 1


def test_outside_recipient_lands_in_outbound_once_despite_429(
    private_emulator: Emulator, client: httpx.Client
) -> None:
    private_emulator.control.add_fault(op="sendMail", kind="apply_then_status", status=429, nth=1,
                                       retry_after=3)
    r = client.post(f"/v1.0/users/{ALICE}/sendMail",
                    json=_mail("to the outside", "someone@example.org"))
    assert r.status_code == 429 and r.headers["Retry-After"] == "3"
    out = client.get("/_emulator/outbound").json()
    assert out["count"] == 1
    assert "to the outside" in json.dumps(out["outbound"])


def test_accepted_202_with_retry_after_still_created_the_draft(
    private_emulator: Emulator, client: httpx.Client
) -> None:
    private_emulator.control.add_fault(op="messages.create", kind="apply_then_status", status=202,
                                       nth=1,
                                       retry_after=5)
    r = client.post(f"/v1.0/users/{ALICE}/messages", json={"subject": "ghost draft"})
    assert r.status_code == 202 and r.headers["Retry-After"] == "5" and not r.content
    drafts = client.get(f"/v1.0/users/{ALICE}/mailFolders/drafts/messages",
                        params={"$select": "subject", "$top": "100"}).json()["value"]
    assert [d["subject"] for d in drafts].count("ghost draft") == 1


def test_batch_item_answered_429_was_applied(private_emulator: Emulator,
                                             client: httpx.Client) -> None:
    private_emulator.control.add_fault(op="messages.create", kind="apply_then_status", status=429,
                                       nth=1)
    batch = {"requests": [{"id": "1", "method": "POST", "url": f"/users/{ALICE}/messages",
                           "headers": {"Content-Type": "application/json"},
                           "body": {"subject": "batched draft"}}]}
    r = client.post("/v1.0/$batch", json=batch)
    assert r.status_code == 200, r.text
    (item,) = r.json()["responses"]
    assert item["status"] == 429
    drafts = client.get(f"/v1.0/users/{ALICE}/mailFolders/drafts/messages",
                        params={"$select": "subject", "$top": "100"}).json()["value"]
    assert [d["subject"] for d in drafts].count("batched draft") == 1
    assert private_emulator.control.count("messages.create", status=429) == 1


def test_send_mail_that_times_out_on_the_client_was_delivered_once(
    private_emulator: Emulator, client: httpx.Client
) -> None:
    private_emulator.control.add_fault(op="sendMail", kind="apply_then_slow", delay_ms=1500, nth=1)
    with pytest.raises(httpx.ReadTimeout):
        client.post(f"/v1.0/users/{ALICE}/sendMail", json=_mail("slow but sent", BOB),
                    timeout=0.4)
    assert _inbox_subjects(client, BOB).count("slow but sent") == 1
    assert len(private_emulator.control.sent()) == 1  # recorded as soon as it was applied


def _flood(emulator: Emulator, count: int) -> None:
    """``count`` request records as a busy run leaves them (reads of another mailbox)."""
    for i in range(count):
        emulator.control.log.add({"op": "messages.list", "method": "GET", "path": "/v1.0/x",
                                  "role": "graph",
                                  "mailbox": "ops@contoso.onmicrosoft.com", "status": 200,
                                  "time": emulator.clock.now(), "applied": True,
                                  "request_id": str(i)})


def test_sends_and_writes_outlive_the_request_log(private_emulator: Emulator,
                                                  client: httpx.Client) -> None:
    from m365bot.emulator.control.inspect import MAX_RECORDS

    private_emulator.control.add_fault(op="sendMail", kind="apply_then_status", status=504, nth=2)
    codes = [client.post(f"/v1.0/users/{ALICE}/sendMail", json=_mail(f"early {i}", BOB))
             .status_code for i in range(3)]
    assert codes == [202, 504, 202]
    draft = client.post(f"/v1.0/users/{ALICE}/messages", json={"subject": "early draft"})
    assert draft.status_code == 201
    _flood(private_emulator, MAX_RECORDS + 10)

    via_api = client.get("/_emulator/sent").json()
    assert via_api["count"] == 3 and [s["status"] for s in via_api["sent"]] == [202, 504, 202]
    assert len(private_emulator.control.sent(mailbox=ALICE)) == 3
    writes = private_emulator.control.requests(op="messages.create", applied=True)
    assert len(writes) == 1 and writes[0]["status"] == 201
    log = client.get("/_emulator/counters").json()["log"]
    assert log["max"] == MAX_RECORDS and log["size"] == MAX_RECORDS
    assert log["dropped"] >= 10 and log["writes"] == 4
    # The request log itself stays bounded: the oldest reads are gone.
    assert len(private_emulator.control.requests(op="messages.list")) <= MAX_RECORDS


def test_logs_filter_and_page_by_op_mailbox_and_time(private_emulator: Emulator,
                                                     client: httpx.Client
                                                     ) -> None:
    for i in range(5):
        assert client.post(f"/v1.0/users/{ALICE}/sendMail",
                           json=_mail(f"page {i}", BOB)).status_code == 202
        private_emulator.clock.advance(60)
    assert client.post(f"/v1.0/users/{BOB}/sendMail", json=_mail("from bob", ALICE)
                       ).status_code == 202
    alice = private_emulator.control.requests(op="sendMail", mailbox=ALICE)
    assert len(alice) == 5
    first = client.get("/_emulator/requests", params={"op": "sendMail", "mailbox": ALICE,
                                                      "limit": "2"}).json()
    assert first["count"] == 2 and [r["seq"] for r in first["requests"]] == [
        r["seq"] for r in alice[:2]]
    rest = client.get("/_emulator/requests", params={
        "op": "sendMail", "mailbox": ALICE, "since": str(first["requests"][-1]["seq"])}).json()
    assert [r["seq"] for r in rest["requests"]] == [r["seq"] for r in alice[2:]]
    window = {"time_from": str(alice[1]["time"]), "time_to": str(alice[3]["time"])}
    sent = client.get("/_emulator/sent", params={"mailbox": ALICE, **window}).json()
    assert sent["count"] == 3
    # Alice's last, Bob's
    assert len(private_emulator.control.sent(time_from=alice[4]["time"])) == 2
    bad = client.get("/_emulator/requests", params={"limit": "ten"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "limit"
    bad = client.get("/_emulator/sent", params={"time_from": "yesterday"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "time_from"

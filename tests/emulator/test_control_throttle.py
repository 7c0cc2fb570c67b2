"""Outlook throttling per app + mailbox over real HTTPS with real app tokens: concurrency,
requests per window (on the emulator clock), upload bytes, and the scope setting."""

from __future__ import annotations

import concurrent.futures
import email.utils
import ssl
import threading
from collections.abc import Iterator

import httpx
import pytest
from core_support import app_token, direct_client

from m365bot.emulator.runtime import Emulator

ALICE = "alice@contoso.onmicrosoft.com"
OPS = "ops@contoso.onmicrosoft.com"


@pytest.fixture
def client(private_emulator: Emulator) -> Iterator[httpx.Client]:
    private_emulator.control.clear()
    private_emulator.settings.update({"throttling": {"enabled": True, "concurrency": 4,
                                                     "requests": 10_000,
                                                     "upload_bytes": 150 * 1024 * 1024,
                                                     "scope": "app+mailbox"}})
    private_emulator.clock.reset()
    with direct_client(private_emulator) as c:
        c.headers["Authorization"] = "Bearer " + app_token(private_emulator, c)
        yield c
    private_emulator.control.clear()


def _list(client: httpx.Client, mailbox: str = ALICE) -> httpx.Response:
    return client.get(f"/v1.0/users/{mailbox}/messages", params={"$top": "1"})


def _assert_throttled(r: httpx.Response) -> None:
    assert r.status_code == 429, r.text
    err = r.json()["error"]
    assert err["code"] == "ApplicationThrottled"
    assert err["message"] == "Application is over its MailboxConcurrency limit."
    assert int(r.headers["Retry-After"]) >= 1


def test_fifth_concurrent_request_is_throttled(private_emulator: Emulator,
                                               client: httpx.Client) -> None:
    private_emulator.control.add_fault(op="messages.list", kind="slow", delay_ms=1200,
                                       probability=1.0)
    token = client.headers["Authorization"]
    ctx = ssl.create_default_context(cafile=private_emulator.info["ca_bundle"])

    def one(_: int) -> httpx.Response:
        with httpx.Client(base_url=private_emulator.base_url, verify=ctx, trust_env=False,
                          headers={"Authorization": token}, timeout=10) as c:
            return _list(c)

    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        responses = list(pool.map(one, range(5)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 200, 200, 200, 429]
    _assert_throttled(next(r for r in responses if r.status_code == 429))
    assert private_emulator.control.requests(op="messages.list",
                                             throttled="true")[0]["throttled"] == (
        "concurrency")
    private_emulator.control.clear_faults()
    assert _list(client).status_code == 200  # slots were released


def test_request_window_follows_the_emulator_clock(private_emulator: Emulator,
                                                   client: httpx.Client) -> None:
    private_emulator.settings.update({"throttling": {"requests": 3}})
    assert [_list(client).status_code for _ in range(3)] == [200, 200, 200]
    refused = _list(client)
    _assert_throttled(refused)
    assert 590 <= int(refused.headers["Retry-After"]) <= 600
    # Another mailbox is another bucket (scope app+mailbox).
    assert _list(client, OPS).status_code == 200
    private_emulator.clock.advance(601)
    assert _list(client).status_code == 200


def test_scope_app_shares_one_bucket_across_mailboxes(
    private_emulator: Emulator, client: httpx.Client
) -> None:
    private_emulator.settings.update({"throttling": {"requests": 2, "scope": "app"}})
    assert _list(client, ALICE).status_code == 200
    assert _list(client, OPS).status_code == 200
    _assert_throttled(_list(client, ALICE))
    _assert_throttled(_list(client, OPS))


def test_upload_budget_counts_request_bodies(private_emulator: Emulator,
                                             client: httpx.Client) -> None:
    private_emulator.settings.update({"throttling": {"upload_bytes": 3000}})
    draft = {"subject": "big", "body": {"contentType": "text", "content": "x" * 2000}}
    first = client.post(f"/v1.0/users/{ALICE}/messages", json=draft)
    assert first.status_code == 201, first.text
    _assert_throttled(client.post(f"/v1.0/users/{ALICE}/messages", json=draft))
    assert _list(client).status_code == 200  # reads still pass
    private_emulator.clock.advance(301)
    assert client.post(f"/v1.0/users/{ALICE}/messages", json=draft).status_code == 201


def test_throttling_can_be_switched_off(private_emulator: Emulator, client: httpx.Client) -> None:
    private_emulator.settings.update({"throttling": {"requests": 1, "enabled": False}})
    assert {_list(client).status_code for _ in range(3)} == {200}


def _fire_together(emulator: Emulator, token: str, calls: list[tuple[str, str, dict | None]]
                   ) -> list[httpx.Response]:
    """Send ``calls`` (method, url, json) at the same moment, each on its own warm connection."""
    ctx = ssl.create_default_context(cafile=emulator.info["ca_bundle"])
    clients = [httpx.Client(base_url=emulator.base_url, verify=ctx, trust_env=False,
                            headers={"Authorization": token}, timeout=20) for _ in calls]
    try:
        for c in clients:  # TLS handshakes first, so that the requests really overlap
            assert c.get("/_emulator/clock").status_code == 200
        barrier = threading.Barrier(len(calls))

        def one(i: int) -> httpx.Response:
            method, url, body = calls[i]
            barrier.wait()
            return clients[i].request(method, url, json=body)

        with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
            return list(pool.map(one, range(len(calls))))
    finally:
        for c in clients:
            c.close()


def test_latency_is_spent_inside_the_concurrency_slot(private_emulator: Emulator,
                                                      client: httpx.Client
                                                      ) -> None:
    """Five requests held by the round trip's latency alone: the fifth is throttled."""
    private_emulator.settings.update({"latency_ms": 400})
    try:
        url = f"/v1.0/users/{ALICE}/messages?$top=1"
        responses = _fire_together(private_emulator, client.headers["Authorization"],
                                   [("GET", url, None)] * 5)
    finally:
        private_emulator.settings.update({"latency_ms": 0})
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 200, 429]
    _assert_throttled(next(r for r in responses if r.status_code == 429))
    key = next(k for k in private_emulator.control.counters()["throttle"] if k.endswith(ALICE))
    assert private_emulator.control.counters()["throttle"][key]["peak_in_flight"] == 4
    assert private_emulator.control.counters()["throttle"][key]["in_flight"] == 0  # all released


def test_retry_after_in_the_http_date_form_when_a_fault_asks(
    private_emulator: Emulator, client: httpx.Client
) -> None:
    private_emulator.control.add_fault(op="messages.list", kind="status", status=429,
                                       retry_after=30,
                                       retry_after_format="http-date", nth=1)
    refused = _list(client)
    assert refused.status_code == 429
    when = email.utils.parsedate_to_datetime(refused.headers["Retry-After"])
    wait = when.timestamp() - private_emulator.clock.now()
    assert 25 <= wait <= 31, refused.headers["Retry-After"]
    private_emulator.control.add_fault(op="messages.list", kind="status", status=429,
                                       retry_after=30, nth=2)
    assert _list(client).status_code == 200
    assert _list(client).headers["Retry-After"] == "30"
    bad = client.post("/_emulator/faults", json={"op": "x", "retry_after_format": "minutes"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "retry_after_format"


def test_concurrent_batches_to_one_mailbox_share_the_limit(
    private_emulator: Emulator, client: httpx.Client
) -> None:
    private_emulator.control.add_fault(op="messages.list", kind="slow", delay_ms=800,
                                       probability=1.0)
    items = {"requests": [{"id": str(i), "method": "GET",
                           "url": f"/users/{ALICE}/messages?$top=1"} for i in range(4)]}
    responses = _fire_together(private_emulator, client.headers["Authorization"],
                               [("POST", "/v1.0/$batch", items)] * 2)
    private_emulator.control.clear_faults()
    assert [r.status_code for r in responses] == [200, 200]
    statuses = sorted(item["status"] for r in responses for item in r.json()["responses"])
    assert statuses == [200] * 4 + [429] * 4
    refused = next(item for r in responses for item in r.json()["responses"]
                   if item["status"] == 429)
    assert refused["body"]["error"]["code"] == "ApplicationThrottled"
    assert int(refused["headers"]["retry-after"]) >= 1

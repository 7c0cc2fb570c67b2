"""JSON batching over real HTTPS through proxy mode: dependsOn, 424 for failed dependencies,
the 20-request limit, per-item faults and throttling, and 400s for malformed batches."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest
from graphx_support import ALICE, BOB, GRAPH, GX, error_code

pytestmark = pytest.mark.usefixtures("calendars_restored")

EVENT = {"start": {"dateTime": "2027-09-01T09:00:00", "timeZone": "UTC"},
         "end": {"dateTime": "2027-09-01T09:30:00", "timeZone": "UTC"}}
JSON = {"Content-Type": "application/json"}


def _batch(gx: GX, requests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    r = gx.post("/$batch", json={"requests": requests})
    assert r.status_code == 200, r.text
    return {item["id"]: item for item in r.json()["responses"]}


def test_depends_on_runs_in_order_and_each_item_is_its_own_request(gx: GX, emulator: Any
                                                                   ) -> None:
    tag = uuid.uuid4().hex[:8]
    before = emulator.control.count("events.create")
    out = _batch(gx, [
        {"id": "1", "method": "POST", "url": f"/users/{ALICE}/events", "headers": JSON,
         "body": {"subject": f"batch {tag}", **EVENT}},
        {"id": "2", "method": "GET", "dependsOn": ["1"],
         "url": f"/users/{ALICE}/events?$filter=subject eq 'batch {tag}'&$select=subject"},
        {"id": "3", "method": "GET", "url": f"users/{ALICE}/calendar"},
    ])
    assert out["1"]["status"] == 201 and out["1"]["body"]["subject"] == f"batch {tag}"
    assert out["2"]["status"] == 200
    assert [e["subject"] for e in out["2"]["body"]["value"]] == [f"batch {tag}"]
    assert out["3"]["status"] == 200 and out["3"]["body"]["isDefaultCalendar"] is True
    assert out["1"]["headers"]["content-type"].startswith("application/json")
    assert emulator.control.count("events.create") == before + 1


def test_an_item_that_asks_for_gzip_still_answers_in_the_batch_json(gx: GX) -> None:
    out = _batch(gx, [{"id": "1", "method": "GET", "url": f"/users/{ALICE}/mailFolders?$top=50",
                       "headers": {"Accept-Encoding": "gzip"}}])
    assert out["1"]["status"] == 200
    assert "Inbox" in [f["displayName"] for f in out["1"]["body"]["value"]]
    assert "content-encoding" not in {k.lower() for k in out["1"]["headers"]}


def test_failed_dependency_gives_424(gx: GX) -> None:
    out = _batch(gx, [
        {"id": "a", "method": "GET", "url": f"/users/{ALICE}/events/AAMkAGENoSuchEvent000AAA="},
        {"id": "b", "method": "POST", "url": f"/users/{ALICE}/events", "dependsOn": ["A"],
         "headers": JSON, "body": {"subject": "never", **EVENT}},
        {"id": "c", "method": "GET", "url": f"/users/{ALICE}/calendar", "dependsOn": ["b"]},
    ])
    assert out["a"]["status"] == 404
    assert out["a"]["body"]["error"]["code"] == "ErrorItemNotFound"
    assert out["b"]["status"] == 424 and out["c"]["status"] == 424


def test_more_than_twenty_requests_is_a_400(gx: GX) -> None:
    reqs = [{"id": str(i), "method": "GET", "url": f"/users/{ALICE}/calendar"}
            for i in range(21)]
    r = gx.post("/$batch", json={"requests": reqs})
    assert r.status_code == 400 and error_code(r) == "BadRequest"
    assert "20" in r.json()["error"]["message"]
    ok = _batch(gx, reqs[:20])
    assert sorted(ok, key=int) == [str(i) for i in range(20)]
    assert {item["status"] for item in ok.values()} == {200}


def test_malformed_batches_are_400(gx: GX) -> None:
    cal = f"/users/{ALICE}/calendar"
    bad: list[Any] = [
        {"requests": [{"id": "x", "method": "GET", "url": cal},
                      {"id": "X", "method": "GET", "url": cal}]},  # ids are case-insensitive
        {"requests": [{"id": "1", "method": "POST", "url": f"/users/{ALICE}/events",
                       "body": {"subject": "no content type"}}]},
        {"requests": [{"id": "1", "method": "GET",
                       "url": "https://graph.microsoft.com/v1.0/me"}]},
        {"requests": [{"id": "1", "method": "FETCH", "url": cal}]},
        {"requests": [{"id": "1", "method": "GET", "url": cal, "headers": {"X-Name": "☃"}}]},
        {"requests": [{"id": "1", "method": "GET", "url": cal, "headers": {"X": "a\r\nB: c"}}]},
        {"requests": [{"id": "1", "method": "POST", "url": "/$batch", "headers": JSON,
                       "body": {"requests": []}}]},
        {"requests": [{"id": "1", "method": "GET", "url": cal, "dependsOn": ["9"]}]},
        {"requests": [{"method": "GET", "url": cal}]},
        {"requests": []},
        {"requests": "all of them"},
        {},
        [1, 2],
    ]
    for body in bad:
        r = gx.post("/$batch", json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["message"]
    r = gx.post("/$batch", content=b"{broken", headers=JSON)
    assert r.status_code == 400
    anonymous = gx.client.post(f"{GRAPH}/$batch", json={"requests": [
        {"id": "1", "method": "GET", "url": cal}]})
    assert anonymous.status_code == 401 and error_code(anonymous) == "InvalidAuthenticationToken"


def test_item_answered_429_yet_applied(gx: GX, emulator: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    rule = emulator.control.add_fault(op="events.create", kind="apply_then_status",
                                      status=429, retry_after=1, nth=1)
    try:
        out = _batch(gx, [{"id": "1", "method": "POST", "url": f"/users/{ALICE}/events",
                           "headers": JSON, "body": {"subject": f"ghost {tag}", **EVENT}}])
    finally:
        emulator.control.clear_faults(rule["id"])
    assert out["1"]["status"] == 429
    assert out["1"]["headers"].get("retry-after") == "1"
    found = gx.get(f"/users/{ALICE}/events",
                   params={"$filter": f"subject eq 'ghost {tag}'"}).json()["value"]
    assert len(found) == 1  # applied although the item said 429


def test_items_are_throttled_individually(gx: GX, emulator: Any) -> None:
    from m365bot.emulator.control.throttle import Throttle

    app_id = next(a["client_id"] for a in gx.info["apps"] if a["name"] == "m365bot-demo")
    limits = emulator.settings.throttling
    key = Throttle.key(limits, app_id, ALICE)
    emulator.control.throttle.clear()
    held = 0
    # Four requests already in flight against Alice's mailbox (say, another bot process).
    while emulator.control.throttle.admit(limits, key, emulator.clock.now(), 0) is None:
        held += 1
    try:
        out = _batch(gx, [
            {"id": "alice", "method": "GET", "url": f"/users/{ALICE}/calendar"},
            {"id": "bob", "method": "GET", "url": f"/users/{BOB}/calendar"},
        ])
    finally:
        for _ in range(held):
            emulator.control.throttle.release(key)
    assert held == limits.concurrency
    assert out["alice"]["status"] == 429 and out["alice"]["headers"]["retry-after"]
    assert out["alice"]["body"]["error"]["code"] == "ApplicationThrottled"
    assert out["bob"]["status"] == 200


def test_non_json_item_bodies_are_base64(gx: GX, draft: str) -> None:
    base = f"/users/{ALICE}/messages/{draft}/attachments"
    data = b"plain text attachment"
    out = _batch(gx, [
        {"id": "1", "method": "POST", "url": base, "headers": JSON,
         "body": {"@odata.type": "#microsoft.graph.fileAttachment", "name": "t.txt",
                  "contentType": "text/plain", "contentBytes": base64.b64encode(data).decode()}},
    ])
    aid = out["1"]["body"]["id"]
    value = _batch(gx, [{"id": "v", "method": "GET", "url": f"{base}/{aid}/$value"}])["v"]
    assert value["status"] == 200 and base64.b64decode(value["body"]) == data


def test_at_most_four_items_run_at_once(gx: GX, emulator: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    rule = emulator.control.add_fault(op="events.get", kind="slow", delay_ms=150,
                                      probability=1.0)
    try:
        out = _batch(gx, [{"id": str(i), "method": "GET",
                           "url": f"/users/{ALICE}/events/AAMkAGE{tag}{i}AAA="}
                          for i in range(8)])
    finally:
        emulator.control.clear_faults(rule["id"])
    assert {item["status"] for item in out.values()} == {404}
    spans = [(r["time"], r["time"] + r["duration_ms"] / 1000)
             for r in emulator.control.requests(op="events.get")
             if tag in r["path"]]
    assert len(spans) == 8
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    assert peak == 4, spans

"""Paging, ``$batch`` and upload steps without I/O (fast; used by the mutation run)."""

from __future__ import annotations

import pytest

from m365bot.errors import ConfigError
from m365bot.graph.batching import (
    BATCH_LIMIT,
    PAGE_LIMIT,
    UPLOAD_CHUNK,
    BatchItem,
    BatchResult,
    batch_body,
    chunks,
    content_range,
    next_link,
    next_offset,
    page_items,
    page_params,
    parse_batch,
    sort_answers,
)


def test_limits() -> None:
    assert (BATCH_LIMIT, PAGE_LIMIT, UPLOAD_CHUNK) == (20, 1000, 4 * 1024 * 1024)


def test_page_params() -> None:
    assert page_params(None) == {"$top": 1000}
    assert page_params({"$filter": "x"}, select=["id", "subject"]) == {
        "$filter": "x", "$select": "id,subject", "$top": 1000}
    assert page_params({"$select": "id", "$top": 5}, select=["x"], top=7) == {
        "$select": "id", "$top": 5}
    assert page_params({"$search": '"a"'}) == {"$search": '"a"'}  # $search takes no $top
    assert page_params(None, top=None) == {} and page_params(None, top=1) == {"$top": 1}
    assert page_params(None, select=[]) == {"$top": 1000}
    for bad in (0, 1001):
        with pytest.raises(ConfigError) as ei:
            page_params(None, top=bad)
        assert ei.value.field == "top"
    original = {"$filter": "x"}
    page_params(original, select=["id"])
    assert original == {"$filter": "x"}


def test_next_link_and_items() -> None:
    assert next_link({"@odata.nextLink": "https://n"}) == "https://n"
    assert next_link({"@odata.nextLink": ""}) is None
    assert next_link({"@odata.nextLink": 5}) is None
    assert next_link({}) is None and next_link(None) is None
    assert page_items({"value": [{"a": 1}, "junk", {"b": 2}]}) == [{"a": 1}, {"b": 2}]
    assert page_items({"value": "x"}) == [] and page_items(None) == []


def item(i: str, method: str = "GET", **kw: object) -> BatchItem:
    return BatchItem(i, method, f"/users/a@b.com/messages/{i}", **kw)  # type: ignore[arg-type]


def test_chunks_of_twenty_keep_dependency_chains_whole() -> None:
    items = [item(str(i)) for i in range(45)]
    assert [len(c) for c in chunks(items)] == [20, 20, 5]
    assert [it.id for c in chunks(items) for it in c] == [str(i) for i in range(45)]
    assert chunks([]) == []
    # r19 depends on r18 and r20 on r19: the chain r18-r20 moves whole to the second call
    items = [item(f"r{i}") for i in range(18)] + [
        item("r18"), item("r19", depends_on=("r18",)), item("r20", depends_on=("R19",))]
    got = chunks(items)
    assert [len(c) for c in got] == [18, 3]
    # two chains joined by an item that depends on both
    items = [item("a"), item("b"), item("c", depends_on=("a", "b")), item("d")]
    assert [[it.id for it in c] for c in chunks(items, size=3)] == [["a", "b", "c"], ["d"]]
    items = [item("a"), item("x"), item("b"), item("c", depends_on=("b", "a"))]
    assert [[it.id for it in c] for c in chunks(items, size=3)] == [["a", "b", "c"], ["x"]]
    assert [[it.id for it in c] for c in chunks(items, size=4)] == [["a", "b", "c", "x"]]


def test_chunks_refuse_bad_batches() -> None:
    with pytest.raises(ConfigError) as ei:
        chunks([item("a"), item("A")])
    assert ei.value.field == "id"
    with pytest.raises(ConfigError) as ei:
        chunks([item("a", depends_on=("b",)), item("b")])
    assert ei.value.field == "depends_on"
    chain = [item("0")] + [item(str(i), depends_on=(str(i - 1),)) for i in range(1, 21)]
    with pytest.raises(ConfigError, match="21 requests"):
        chunks(chain)
    assert len(chunks(chain[:20])) == 1


def test_batch_body() -> None:
    items = [item("1"), item("2", "PATCH", body={"isRead": True}, depends_on=("1",)),
             item("3", "post", headers={"Content-Type": "text/plain"}, body="x")]
    assert batch_body(items) == {"requests": [
        {"id": "1", "method": "GET", "url": "/users/a@b.com/messages/1"},
        {"id": "2", "method": "PATCH", "url": "/users/a@b.com/messages/2",
         "body": {"isRead": True}, "headers": {"Content-Type": "application/json"},
         "dependsOn": ["1"]},
        {"id": "3", "method": "POST", "url": "/users/a@b.com/messages/3", "body": "x",
         "headers": {"Content-Type": "text/plain"}},
    ]}


def test_parse_batch() -> None:
    body = {"responses": [
        {"id": "2", "status": 429, "headers": {"Retry-After": "3"}, "body": {"error": {}}},
        {"id": "1", "status": 200, "body": {"id": "x"}},
        {"status": 200}, "junk"]}
    got = parse_batch(body)
    assert got == {"2": BatchResult("2", 429, {"retry-after": "3"}, {"error": {}}),
                   "1": BatchResult("1", 200, {}, {"id": "x"})}
    assert parse_batch(None) == {} and parse_batch({"responses": "x"}) == {}
    assert parse_batch({"responses": [{"id": 7}]}) == {"7": BatchResult("7", 0, {}, None)}


def test_batch_result() -> None:
    assert BatchResult("1", 200).ok and BatchResult("1", 399).ok
    assert not BatchResult("1", 400).ok and BatchResult("1", 429, applied=True).ok
    assert BatchResult("1", 403, body={"error": {"code": "ErrorAccessDenied"}}).error_code == (
        "ErrorAccessDenied")
    assert BatchResult("1", 403, body={"error": "x"}).error_code == ""
    assert BatchResult("1", 403, body={"error": {"code": None}}).error_code == ""


def R(i: str, status: int, retry: str | None = None) -> BatchResult:
    return BatchResult(i, status, {"retry-after": retry} if retry else {}, None)


def test_sort_answers_redoes_only_what_may_be_redone() -> None:
    def check() -> bool:
        return True

    items = [item("ok"), item("get429"), item("deny"), item("post429", "POST"),
             item("checked429", "POST", check=check), item("guarded429", "PATCH", guarded=True),
             item("get503"), item("post503", "POST"), item("guarded504", "POST", guarded=True),
             item("missing"), item("lost", "POST")]
    answers = {"ok": R("ok", 200), "get429": R("get429", 429, "2"), "deny": R("deny", 403),
               "post429": R("post429", 429, "5"), "checked429": R("checked429", 429),
               "guarded429": R("guarded429", 429, "1"), "get503": R("get503", 503, "4"),
               "post503": R("post503", 503), "guarded504": R("guarded504", 504)}
    plan = sort_answers(items, answers)
    assert sorted(plan.final) == ["deny", "lost", "ok", "post429", "post503"]
    assert plan.final["lost"].status == 0 and plan.final["post429"].status == 429
    assert [i.id for i in plan.redo] == ["get429", "guarded429", "get503", "guarded504",
                                         "missing"]
    assert [i.id for i in plan.to_check] == ["checked429"]
    assert plan.delay == 5.0 and plan.throttled


def test_sort_answers_without_throttling_or_waits() -> None:
    plan = sort_answers([item("a"), item("b")], {"a": R("a", 200), "b": R("b", 503)})
    assert [i.id for i in plan.redo] == ["b"] and plan.delay is None and not plan.throttled
    plan = sort_answers([item("a")], {"a": R("a", 200)})
    assert plan.redo == [] and plan.to_check == [] and plan.final == {"a": R("a", 200)}


def test_a_424_is_redone_only_with_its_failed_dependency() -> None:
    items = [item("a"), item("b", depends_on=("a",)), item("c"), item("d", depends_on=("c",)),
             item("e", "POST", check=lambda: False), item("f", depends_on=("e",))]
    answers = {"a": R("a", 429), "b": R("b", 424), "c": R("c", 403), "d": R("d", 424),
               "e": R("e", 429, "1"), "f": R("f", 424)}
    plan = sort_answers(items, answers)
    assert [i.id for i in plan.redo] == ["a", "b", "f"]
    assert sorted(plan.final) == ["c", "d"] and [i.id for i in plan.to_check] == ["e"]
    assert plan.delay == 1.0


def test_next_offset_and_content_range() -> None:
    assert next_offset({"NextExpectedRanges": ["2097152-"]}) == 2097152
    assert next_offset({"nextExpectedRanges": ["0-"]}) == 0
    assert next_offset({"NextExpectedRanges": ["100"]}) == 100
    assert next_offset({"nextExpectedRanges": [" 7 - 9"]}) == 7
    assert next_offset({"nextExpectedRanges": []}) is None
    assert next_offset({"nextExpectedRanges": ["x-"]}) is None
    assert next_offset({"nextExpectedRanges": "0-"}) is None
    assert next_offset({}) is None and next_offset(None) is None
    assert content_range(0, 4194304, 5242880) == "bytes 0-4194303/5242880"
    assert content_range(10, 1, 11) == "bytes 10-10/11"

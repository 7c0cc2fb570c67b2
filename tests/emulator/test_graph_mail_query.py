"""OData on messages over real HTTPS: $select, $filter, $search, $orderby, $top/$skip paging
with nextLink, $count, and Outlook's documented restrictions (400s, never 500s)."""

from __future__ import annotations

from typing import Any

import pytest
from graphx_support import GX
from mail_support import ALICE, err, unique

N = 25


@pytest.fixture(scope="module")
def lab(gx: GX, emulator: Any) -> str:
    """A folder of Alice's with 25 known messages; its messages URL."""
    from m365bot.emulator.graph.seed import seed_message

    name = unique("QueryLab")
    r = gx.post(f"/users/{ALICE}/mailFolders", json={"displayName": name})
    assert r.status_code == 201
    box = emulator.state.mailbox(ALICE)
    with emulator.state.lock:
        for i in range(N):
            seed_message(emulator.state, box, {
                "folder": name,
                "subject": f"Invoice {1000 + i}" if i % 5 == 0 else f"Status report {i}",
                "from": ("billing@fabrikam.example" if i % 5 == 0
                         else f"colleague{i % 3}@contoso.example"),
                "to": [ALICE], "body": f"Quarterly numbers {'with pizza' if i == 7 else ''}",
                "received": f"2026-10-{1 + i:02d}T08:00:00Z",
                "is_read": i % 2 == 0, "importance": "high" if i % 4 == 0 else "normal",
                "categories": ["Finance"] if i % 5 == 0 else [],
                "attachments": [{"name": "a.txt", "content": "x"}] if i % 6 == 0 else [],
            })
    return f"/users/{ALICE}/mailFolders/{r.json()['id']}/messages"


def _subjects(r: Any) -> list[str]:
    assert r.status_code == 200, r.text
    return [m["subject"] for m in r.json()["value"]]


def test_default_page_size_and_next_link_paging(gx: GX, lab: str) -> None:
    first = gx.get(lab)
    assert len(_subjects(first)) == 10
    link = first.json()["@odata.nextLink"]
    assert link.startswith("https://graph.microsoft.com/v1.0/") and "$skip=10" in link
    seen = _subjects(first)
    while link:
        page = gx.get(link)
        seen += _subjects(page)
        link = page.json().get("@odata.nextLink")
    assert len(seen) == N and len(set(seen)) == N


def test_top_skip_count_select(gx: GX, lab: str) -> None:
    r = gx.get(lab, params={"$top": "3", "$skip": "20", "$count": "true",
                            "$select": "subject,receivedDateTime"})
    body = r.json()
    assert body["@odata.count"] == N
    assert [m["receivedDateTime"] for m in body["value"]] == [
        "2026-10-05T08:00:00Z", "2026-10-04T08:00:00Z", "2026-10-03T08:00:00Z"]
    assert set(body["value"][0]) == {"@odata.etag", "id", "subject", "receivedDateTime"}
    assert body["@odata.context"].endswith("/messages(subject,receivedDateTime)")
    assert "$skip=23" in body["@odata.nextLink"]


@pytest.mark.parametrize(("flt", "expected"), [
    ("isRead eq false", 12),
    ("isRead eq true and importance eq 'high'", 7),
    ("receivedDateTime ge 2026-10-20T00:00:00Z", 6),
    ("receivedDateTime lt 2026-10-03T00:00:00Z or receivedDateTime gt 2026-10-24T00:00:00Z", 4),
    ("from/emailAddress/address eq 'BILLING@fabrikam.example'", 5),
    ("startswith(subject,'Invoice')", 5),
    ("contains(subject,'report 1')", 9),
    ("subject eq 'Invoice 1005'", 1),
    ("hasAttachments eq true", 5),
    ("categories/any(c:c eq 'Finance')", 5),
    ("not (isRead eq false) and (importance eq 'high' or hasAttachments eq true)", 9),
])
def test_filter(gx: GX, lab: str, flt: str, expected: int) -> None:
    r = gx.get(lab, params={"$filter": flt, "$top": "100", "$count": "true"})
    assert r.status_code == 200, r.text
    assert r.json()["@odata.count"] == expected == len(r.json()["value"])


@pytest.mark.parametrize(("search", "expected"), [
    ('"pizza"', 1),
    ('"subject:invoice"', 5),
    ('"from:billing"', 5),
    ('"hasAttachments:true"', 5),
    ('"received>=2026-10-21"', 5),
    ('"subject:invoice AND received>=2026-10-15"', 2),
    ('"subject:invoice OR from:colleague0"', 12),
    ('"Quarterly numbers with"', 1),
])
def test_search(gx: GX, lab: str, search: str, expected: int) -> None:
    r = gx.get(lab, params={"$search": search, "$top": "100"})
    assert len(_subjects(r)) == expected


def test_search_phrase_and_order(gx: GX, lab: str) -> None:
    r = gx.get(lab, params={"$search": '"status report 1"', "$top": "100"})
    subjects = _subjects(r)
    assert "Status report 1" in subjects and "Status report 12" in subjects
    dates = [m["sentDateTime"] or "" for m in r.json()["value"]]
    assert dates == sorted(dates, reverse=True)


def test_orderby(gx: GX, lab: str) -> None:
    r = gx.get(lab, params={"$orderby": "receivedDateTime asc", "$top": "2"})
    assert [m["receivedDateTime"][:10] for m in r.json()["value"]] == ["2026-10-01", "2026-10-02"]
    r = gx.get(lab, params={"$filter": "importance eq 'high' and isRead eq true",
                            "$orderby": "importance desc", "$top": "50"})
    assert r.status_code == 200 and len(r.json()["value"]) == 7


@pytest.mark.parametrize(("params", "code", "message"), [
    ({"$search": '"x"', "$filter": "isRead eq true"}, "BadRequest",
     "The query parameter '$filter' is not supported with '$search'."),
    ({"$search": '"x"', "$orderby": "subject"}, "BadRequest",
     "The query parameter '$orderBy' is not supported with '$search'."),
    ({"$filter": "isRead eq true", "$orderby": "receivedDateTime desc"}, "InefficientFilter",
     "The restriction or sort order is too complex for this operation."),
    ({"$filter": "isRead eq true and receivedDateTime ge 2026-01-01T00:00:00Z",
      "$orderby": "receivedDateTime desc"}, "InefficientFilter",
     "The restriction or sort order is too complex for this operation."),
])
def test_documented_restrictions(gx: GX, lab: str, params: dict[str, str], code: str,
                                 message: str) -> None:
    r = gx.get(lab, params=params)
    assert r.status_code == 400 and err(r) == code
    assert r.json()["error"]["message"] == message


def test_filter_matching_orderby_is_allowed(gx: GX, lab: str) -> None:
    r = gx.get(lab, params={
        "$filter": "receivedDateTime ge 2026-10-20T00:00:00Z and isRead eq false",
        "$orderby": "receivedDateTime desc"})
    assert r.status_code == 200 and len(r.json()["value"]) == 3


@pytest.mark.parametrize("params", [
    {"$top": "0"}, {"$top": "1001"}, {"$top": "ten"}, {"$skip": "-1"}, {"$count": "maybe"},
    {"$select": "subject,nonsense"}, {"$filter": "subject eq"}, {"$filter": "nosuch eq 1"},
    {"$filter": "isRead eq true and"}, {"$filter": "((isRead eq true)"},
    {"$filter": "receivedDateTime ge 'yesterday'"}, {"$filter": "subject eq unquoted"},
    {"$orderby": "subject sideways"}, {"$orderby": "body"}, {"$search": '""'},
    {"$search": '"nosuch:value"'}, {"$search": '"(unbalanced"'}, {"$frobnicate": "1"},
    {"$filter": "contains(subject, 5)"}, {"$filter": "categories/any(c:d eq 'x')"},
])
def test_bad_query_options_are_400(gx: GX, lab: str, params: dict[str, str]) -> None:
    r = gx.get(lab, params=params)
    assert r.status_code == 400, (params, r.text)
    assert err(r) == "BadRequest" and r.json()["error"]["message"]


def test_listing_order_follows_every_change(gx: GX, emulator: Any) -> None:
    """A folder's sorted order is kept between the pages of a listing, but never outlives a
    change: new mail, a changed sort property, a move out and a delete show on the next page
    asked for."""
    from m365bot.emulator.graph.seed import seed_message

    name = unique("OrderLab")
    r = gx.post(f"/users/{ALICE}/mailFolders", json={"displayName": name})
    url = f"/users/{ALICE}/mailFolders/{r.json()['id']}/messages"
    box = emulator.state.mailbox(ALICE)

    def arrive(subject: str, day: int) -> None:
        with emulator.state.lock:
            seed_message(emulator.state, box, {"folder": name, "subject": subject,
                                               "to": [ALICE], "received":
                                               f"2026-09-{day:02d}T08:00:00Z"})

    for day in range(1, 6):
        arrive(f"Day {day}", day)
    first = gx.get(url, params={"$top": "2", "$select": "subject"})
    assert _subjects(first) == ["Day 5", "Day 4"]
    rest = gx.get(first.json()["@odata.nextLink"])
    assert _subjects(rest) == ["Day 3", "Day 2"]

    arrive("Day 9", 9)  # new mail: first on the next listing
    assert _subjects(gx.get(url, params={"$top": "3", "$select": "subject"})) == [
        "Day 9", "Day 5", "Day 4"]
    by_read = {"$orderby": "isRead desc,receivedDateTime asc", "$select": "subject,isRead"}
    assert _subjects(gx.get(url, params=by_read))[0] == "Day 1"
    day3 = next(m for m in gx.get(url, params=by_read).json()["value"]
                if m["subject"] == "Day 3")
    assert gx.patch(f"/users/{ALICE}/messages/{day3['id']}",
                      json={"isRead": True}).status_code == 200
    assert _subjects(gx.get(url, params=by_read))[0] == "Day 3"  # the changed sort key

    assert gx.post(f"/users/{ALICE}/messages/{day3['id']}/move",
                     json={"destinationId": "archive"}).status_code == 201
    ids = {m["subject"]: m["id"] for m in gx.get(url, params={"$select": "subject"})
           .json()["value"]}
    assert gx.delete(f"/users/{ALICE}/messages/{ids['Day 9']}").status_code == 204
    assert _subjects(gx.get(url, params={"$select": "subject"})) == [
        "Day 5", "Day 4", "Day 2", "Day 1"]


def test_answers_are_gzip_compressed_for_a_client_that_accepts_gzip(gx: GX, lab: str) -> None:
    params = {"$top": "25", "$select": "subject,from,receivedDateTime"}
    zipped = gx.get(lab, params=params, headers={"Accept-Encoding": "gzip"})
    plain = gx.get(lab, params=params, headers={"Accept-Encoding": "identity"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    # the same page, in a fraction of the bytes on the wire
    assert _subjects(zipped) == _subjects(plain) and len(_subjects(plain)) == N
    assert zipped.num_bytes_downloaded < len(plain.content) / 3
    assert plain.num_bytes_downloaded == len(plain.content)

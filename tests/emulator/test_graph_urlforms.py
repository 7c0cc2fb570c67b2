"""URL forms Graph answers like the canonical one (issue 7 item 3), over real HTTPS through
proxy mode: each form gets the same answer as the canonical URL, and the forms Graph refuses
get Graph's error. Sources per rule: docs/emulator-mail.md, "URL forms"."""

from __future__ import annotations

from typing import Any

import pytest
from graphx_support import ALICE, GX, error_code

INBOX = f"/users/{ALICE}/mailFolders/inbox/messages"
REPEATED = "was specified more than once, but it must be specified at most once."


def same_answer(gx: GX, form: str, canonical: str, *, echoed: bool = False) -> dict[str, Any]:
    """GET both; the form's answer must be the canonical one's (status and body).

    ``echoed``: the links echo the user or folder as the client spelled it (as Graph's do), so
    only they may differ.
    """
    want = gx.get(canonical)
    got = gx.get(form)
    assert want.status_code == 200, want.text
    assert got.status_code == 200, (form, got.text)
    links = ("@odata.context", "@odata.nextLink") if echoed else ()
    assert {k: v for k, v in got.json().items() if k not in links} == \
        {k: v for k, v in want.json().items() if k not in links}, form
    assert [k in got.json() for k in links] == [k in want.json() for k in links]
    return dict(got.json())


def test_empty_segment_after_the_version_is_answered(gx: GX) -> None:
    """A generated SDK whose base URL ends in '/' sends ``/v1.0//users/…`` (issue 7)."""
    body = same_answer(gx, f"/{INBOX}?$top=3", f"{INBOX}?$top=3")
    assert body["value"], "the canonical page is not empty, so the comparison means something"
    inbox = f"/users/{ALICE}/mailFolders/inbox"
    folder = same_answer(gx, f"/{inbox}", inbox)
    assert folder["displayName"] == "Inbox"


def test_empty_segment_before_batch_keeps_graphs_400(gx: GX) -> None:
    """``POST /v1.0//$batch`` is a 400 on Graph (msgraph-sdk-python-core#834)."""
    payload = {"requests": [{"id": "1", "method": "GET", "url": f"{INBOX}?$top=1"}]}
    assert gx.post("/$batch", json=payload).status_code == 200
    r = gx.post("//$batch", json=payload)
    assert r.status_code == 400, r.text
    assert error_code(r) == "BadRequest"
    assert r.json()["error"]["message"] == "Resource not found for the segment '$batch'."


@pytest.mark.parametrize(("path", "segment"), [
    (f"/users/{ALICE}/bogus/messages", "bogus"),
    (f"/users/{ALICE}/mailFolders/inbox/nonsense", "nonsense"),
    (f"/users/{ALICE}/mailFolders/inbox/messages/AAMkAGx/notAnAction/deeper", "notAnAction"),
])
def test_unknown_segment_error_names_the_first_unresolved_segment(gx: GX, path: str,
                                                                   segment: str) -> None:
    """Graph names the first segment it cannot resolve ("Resource not found for the segment
    'v1.0'." for a doubled version, msgraph-sdk-javascript#1178), not the last one."""
    r = gx.get(path)
    assert r.status_code == 400 and error_code(r) == "BadRequest", r.text
    assert r.json()["error"]["message"] == f"Resource not found for the segment '{segment}'."


@pytest.mark.parametrize("form", [
    "/users/{upn}", "/users/{oid}", "/users('{upn}')", "/users('{oid}')",
    "/users/{upn_pct}", "/users('{upn_pct}')", "/users/{upn_upper}",
])
def test_user_forms_name_the_same_mailbox(gx: GX, form: str) -> None:
    oid = next(u["id"] for u in gx.info["users"] if u["upn"] == ALICE)
    who = form.format(upn=ALICE, oid=oid, upn_pct=ALICE.replace("@", "%40"),
                      upn_upper=ALICE.upper())
    same_answer(gx, f"{who}/mailFolders/inbox/messages?$top=5", f"{INBOX}?$top=5",
                echoed=True)


@pytest.mark.parametrize("form", [
    "/users/{u}/mailfolders/inbox/messages", "/users/{u}/MailFolders/inbox/Messages",
    "/Users/{u}/MAILFOLDERS/inbox/messages", "/users/{u}/mailFolders/inbox/MESSAGES",
])
def test_segment_names_match_in_any_case(gx: GX, form: str) -> None:
    same_answer(gx, form.format(u=ALICE) + "?$top=4", f"{INBOX}?$top=4")


def test_segment_case_reaches_nested_routes_and_actions(gx: GX) -> None:
    listed = gx.get(f"{INBOX}?$top=1").json()["value"][0]
    one = f"/users/{ALICE}/mailFolders/inbox/messages/{listed['id']}"
    same_answer(gx, one.replace("/messages/", "/Messages/") + "/Attachments",
                one + "/attachments")
    same_answer(gx, f"/users/{ALICE}/MailFolders/msgfolderroot/ChildFolders?$top=50",
                f"/users/{ALICE}/mailFolders/msgfolderroot/childFolders?$top=50")
    draft = gx.post(one.replace("/messages/", "/MESSAGES/") + "/CreateReply")
    assert draft.status_code == 201, draft.text
    assert gx.delete(f"/users/{ALICE}/messages/{draft.json()['id']}").status_code == 204


@pytest.mark.parametrize("name", ["Inbox", "INBOX", "inBox"])
def test_well_known_folder_names_match_in_any_case(gx: GX, name: str) -> None:
    same_answer(gx, f"/users/{ALICE}/mailFolders/{name}", f"/users/{ALICE}/mailFolders/inbox")
    same_answer(gx, f"/users/{ALICE}/mailFolders/{name}/messages?$top=2", f"{INBOX}?$top=2",
                echoed=True)
    sent = gx.get(f"/users/{ALICE}/mailFolders/SentItems")
    assert sent.status_code == 200 and sent.json()["displayName"] == "Sent Items"


def test_trailing_slash_is_the_same_resource(gx: GX) -> None:
    same_answer(gx, f"{INBOX}/?$top=3", f"{INBOX}?$top=3")
    same_answer(gx, f"/users/{ALICE}/mailFolders/inbox/", f"/users/{ALICE}/mailFolders/inbox")


def test_options_without_dollar_and_in_any_case(gx: GX) -> None:
    """Outlook resources take ``select`` for ``$select`` (the '$' is optional on a subset of
    v1.0 APIs, learn.microsoft.com/graph/query-parameters) and option names in any case."""
    canonical = f"{INBOX}?$select=subject&$top=2&$orderby=receivedDateTime desc"
    body = same_answer(gx, f"{INBOX}?select=subject&top=2&orderby=receivedDateTime desc",
                       canonical)
    assert all(set(m) <= {"@odata.etag", "id", "subject"} for m in body["value"]), body
    same_answer(gx, f"{INBOX}?$SELECT=subject&$Top=2&$OrderBy=receivedDateTime desc", canonical)
    assert "$skip=2" in body["@odata.nextLink"], "the next page keeps the canonical spelling"


@pytest.mark.parametrize(("query", "named"), [
    ("$top=1&$top=2", "$top/top"),
    ("$select=subject&select=id", "$select/select"),
    ("$filter=isRead eq true&$FILTER=isRead eq false", "$filter/filter"),
])
def test_repeated_query_option_is_graphs_400(gx: GX, query: str, named: str) -> None:
    r = gx.get(f"{INBOX}?{query}")
    assert r.status_code == 400, r.text
    assert error_code(r) == "BadRequest"
    assert r.json()["error"]["message"] == f"Query option '{named}' {REPEATED}"


def test_url_forms_inside_batch_items(gx: GX) -> None:
    canonical = gx.get(f"{INBOX}?$top=2").json()["value"]
    r = gx.post("/$batch", json={"requests": [
        {"id": "1", "method": "GET", "url": f"/users/{ALICE}/MailFolders/INBOX/messages/?top=2"},
        {"id": "2", "method": "GET", "url": f"{INBOX}?$top=1&top=2"},
    ]})
    assert r.status_code == 200, r.text
    items = {i["id"]: i for i in r.json()["responses"]}
    assert items["1"]["status"] == 200, items["1"]
    assert [m["id"] for m in items["1"]["body"]["value"]] == [m["id"] for m in canonical]
    assert items["2"]["status"] == 400
    assert items["2"]["body"]["error"]["message"] == f"Query option '$top/top' {REPEATED}"

"""The engine's no-I/O core: request building, Retry-After, errors and the retry decision.
Fast (no emulator): these are the tests the mutation run uses."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from m365bot.errors import GraphError, NotFoundError, ThrottledError
from m365bot.graph.core import (
    CONCURRENCY,
    MAX_RETRY_AFTER,
    Attempt,
    Decision,
    GraphRequest,
    Outcome,
    Policy,
    advance,
    backoff,
    build_request,
    build_url,
    decide,
    error_from,
    mailbox_of,
    mailbox_path,
    parse_json,
    prefer_header,
    retry_after,
)

BASE = "https://graph.microsoft.com"
NOW = 1_900_000_000.0


def req(method: str = "GET", **kw: object) -> GraphRequest:
    return GraphRequest(method, BASE + "/v1.0/users/a@b.com/messages", **kw)  # type: ignore[arg-type]


def test_limits_are_outlooks() -> None:
    assert CONCURRENCY == 4 and MAX_RETRY_AFTER == 120.0
    p = Policy()
    assert (p.budget, p.max_attempts, p.base, p.cap, p.resends) == (120.0, 8, 0.5, 30.0, 1)


# -- building ------------------------------------------------------------------------------------

def test_build_url_joins_version_path_and_query() -> None:
    assert build_url(BASE + "/", "users/a@b.com") == BASE + "/v1.0/users/a@b.com"
    assert build_url(BASE, "/me", {"$top": 5, "$select": ["id", "subject"], "skip": None,
                                   "flag": True, "off": False}) == (
        BASE + "/v1.0/me?$top=5&$select=id,subject&flag=true&off=false")
    assert build_url(BASE, "/me", {"$filter": "subject eq 'Café 50%'"}) == (
        BASE + "/v1.0/me?$filter=subject%20eq%20%27Caf%C3%A9%2050%25%27")
    assert build_url(BASE, "/me", {"$filter": "a/b eq (1,2):x"}).endswith(
        "$filter=a/b%20eq%20(1,2):x")
    link = "https://graph.microsoft.com/v1.0/me/messages?$skip=10"
    assert build_url(BASE, link) == link
    assert build_url(BASE, link, {"$top": 1}) == link + "&$top=1"
    assert build_url(BASE, "/me", {}) == BASE + "/v1.0/me"
    assert build_url(BASE, "/me", {"a b": 1}) == BASE + "/v1.0/me?a%20b=1"


def test_prefer_header() -> None:
    assert prefer_header() is None
    assert prefer_header(immutable_ids=True) == 'IdType="ImmutableId"'
    assert prefer_header(body_type="html") == 'outlook.body-content-type="html"'
    assert prefer_header(immutable_ids=True, body_type="text", extra="odata.maxpagesize=50") == (
        'IdType="ImmutableId", outlook.body-content-type="text", odata.maxpagesize=50')
    with pytest.raises(ValueError, match="body_type"):
        prefer_header(body_type="rtf")


def test_mailbox_of_a_url() -> None:
    assert mailbox_of(BASE + "/v1.0/users/Ops%40Contoso.com/messages") == "ops@contoso.com"
    assert mailbox_of(BASE + "/beta/users/x/messages") == "x"
    assert mailbox_of(BASE + "/v1.0/USERS/Bob@c.com") == "bob@c.com"
    assert mailbox_of(BASE + "/v1.0/me/messages", "Ops@C.com") == "ops@c.com"
    assert mailbox_of(BASE + "/v1.0/me") == "me"
    assert mailbox_of(BASE + "/v1.0/$batch") == ""
    assert mailbox_of(BASE + "/v1.0/users") == ""
    assert mailbox_of("/users/a@b.com/messages") == "a@b.com"
    assert mailbox_of("https://outlook.office.com/api/v2.0/Users('x')") == ""


def test_mailbox_path() -> None:
    assert mailbox_path("me") == mailbox_path("ME") == "/me"
    assert mailbox_path("zoë x@c.com") == "/users/zo%C3%AB%20x@c.com"


def test_build_request() -> None:
    r = build_request(BASE, "post", "/users/A@b.com/sendMail", json={"x": 1}, guarded=True,
                      immutable_ids=True, body_type="text", headers={"X-A": "1"})
    assert r.method == "POST" and r.url == BASE + "/v1.0/users/A@b.com/sendMail"
    assert r.headers == {"Accept": "application/json", "X-A": "1",
                         "Prefer": 'IdType="ImmutableId", outlook.body-content-type="text"'}
    assert r.json == {"x": 1} and r.guarded and r.mailbox == "a@b.com" and r.auth
    assert r.slots == 1 and r.content is None and r.accept == frozenset()
    plain = build_request(BASE, "GET", "/me/messages", params={"$top": 1}, me="ops@c.com")
    assert plain.headers == {"Accept": "application/json"} and not plain.guarded
    assert plain.mailbox == "ops@c.com" and plain.url.endswith("?$top=1")
    assert build_request(BASE, "GET", "/me", headers={"Accept": "text/plain"}).headers == {
        "Accept": "text/plain"}


def test_retry_safe_by_method_or_guard() -> None:
    for m in ("GET", "HEAD", "OPTIONS", "PUT", "DELETE"):
        assert req(m).retry_safe
    for m in ("POST", "PATCH"):
        assert not req(m).retry_safe
        assert req(m, guarded=True).retry_safe


# -- answers -------------------------------------------------------------------------------------

def test_parse_json() -> None:
    assert parse_json('{"a": 1}') == {"a": 1}
    assert parse_json(b"[1]") == [1]
    assert parse_json("") is None and parse_json(b"") is None
    assert parse_json("<html>") is None


def test_retry_after_seconds_and_http_date() -> None:
    assert retry_after({"retry-after": "3"}) == 3.0
    assert retry_after({"retry-after": " 2.5 "}) == 2.5
    assert retry_after({"retry-after": "-4"}) == 0.0
    assert retry_after({}) is None and retry_after({"retry-after": ""}) is None
    assert retry_after({"retry-after": "soon"}) is None
    date = formatdate(NOW + 7, usegmt=True)
    assert retry_after({"retry-after": date}, NOW) == 7.0
    assert retry_after({"retry-after": formatdate(NOW - 50, usegmt=True)}, NOW) == 0.0
    assert retry_after({"retry-after": date}) == NOW + 7  # no clock: seconds since the epoch


def test_error_from_graphs_envelope() -> None:
    body = {"error": {"code": "ErrorAccessDenied", "message": "Access is denied.",
                      "innerError": {"request-id": "rid-1"}}}
    e = error_from(403, body, {"request-id": "other"})
    assert type(e) is GraphError
    assert (e.status, e.code, e.request_id) == (403, "ErrorAccessDenied", "rid-1")
    assert e.message == "Graph answered 403 ErrorAccessDenied: Access is denied."
    assert "FullAccess" in e.advice
    e = error_from(404, {"error": {"code": "ErrorItemNotFound", "message": "m",
                                   "innererror": {"request-id": "rid-2"}}}, {})
    assert isinstance(e, NotFoundError) and e.request_id == "rid-2" and e.advice
    e = error_from(404, {"error": {"code": "MailboxNotEnabledForRESTAPI"}}, {})
    assert type(e) is GraphError and e.message.endswith("no message")
    e = error_from(429, {"error": {"code": "ApplicationThrottled", "message": "x"}},
                   {"retry-after": "9", "request-id": "hdr"})
    assert isinstance(e, ThrottledError) and e.retry_after == 9.0 and e.request_id == "hdr"
    e = error_from(429, None, {})
    assert isinstance(e, ThrottledError) and e.retry_after == 0.0 and e.code == "HTTP429"
    e = error_from(502, "<html>", {})
    assert type(e) is GraphError and e.code == "HTTP502" and e.request_id == "" and not e.advice
    e = error_from(400, {"error": {"code": "X", "message": "m" * 400, "innerError": "s"}}, {})
    assert e.message == "Graph answered 400 X: " + "m" * 300 and e.request_id == ""
    assert error_from(400, {"error": "flat"}, {}).code == "HTTP400"


# -- deciding ------------------------------------------------------------------------------------

def d(r: GraphRequest, status: int, headers: dict[str, str] | None = None,
      state: Attempt | None = None, now: float = NOW, network: str = "",
      policy: Policy | None = None, rand: float = 0.5) -> Decision:
    return decide(r, Outcome(status, headers or {}, network), state or Attempt(started=NOW),
                  now=now, rand=rand, policy=policy)


def test_success_is_done() -> None:
    assert d(req(), 200).action == "done"
    assert d(req(), 204).action == "done" and d(req(), 399).action == "done"
    assert d(req(), 400).action == "fail" and d(req(), 403).reason == "403"
    assert d(req("PUT", accept=frozenset({416})), 416).action == "done"


def test_401_refreshes_once() -> None:
    assert d(req(), 401) == Decision("refresh", reason="401")
    assert d(req(), 401, state=Attempt(NOW, refreshed=True)).action == "fail"
    assert d(req(auth=False), 401).action == "fail"  # an upload URL: no token to refresh


def test_429_is_retried_for_every_method_and_closes_the_gate() -> None:
    for m in ("GET", "POST", "PATCH"):
        assert d(req(m), 429, {"retry-after": "2"}) == Decision("retry", 2.0, 2.0, "429")
    # no Retry-After: backoff, and the gate closes for as long
    got = d(req("POST"), 429, state=Attempt(NOW, retries=2), rand=0.0)
    assert got == Decision("retry", 1.0, 1.0, "429")


def test_a_429_the_caller_accepts_is_its_answer_and_still_closes_the_gate() -> None:
    mine = req("POST", accept=frozenset({429}))
    assert d(mine, 429, {"retry-after": "3"}) == Decision("done", 0.0, 3.0, "429")
    assert d(mine, 429) == Decision("done", 0.0, 0.0, "429")
    assert d(mine, 503).action == "fail"  # only the statuses it named
    assert build_request("https://g", "POST", "/me/messages",
                         accept=frozenset({429})).accept == frozenset({429})


def test_503_504_only_for_idempotent_or_guarded() -> None:
    for status in (503, 504):
        assert d(req("GET"), status) == Decision("retry", 0.375, 0.0, str(status))
        assert d(req("DELETE"), status, {"retry-after": "4"}).delay == 4.0
        assert d(req("POST"), status).action == "fail"
        assert d(req("POST", guarded=True), status).action == "retry"
    assert d(req("GET"), 500).action == "fail" and d(req("GET"), 502).action == "fail"


def test_budget_and_attempts() -> None:
    p = Policy(budget=10)
    assert d(req(), 429, {"retry-after": "10"}, policy=p).action == "retry"  # exactly fits
    assert d(req(), 429, {"retry-after": "10.5"}, policy=p) == Decision(
        "fail", reason="time budget")
    spent = Attempt(NOW, waited=6.0)
    assert d(req(), 503, {"retry-after": "4"}, state=spent, policy=p).action == "retry"
    assert d(req(), 503, {"retry-after": "5"}, state=spent, policy=p).action == "fail"
    # elapsed time counts even when nothing was waited (a slow server)
    assert d(req(), 503, {"retry-after": "4"}, now=NOW + 7, policy=p).action == "fail"
    assert d(req(), 503, {"retry-after": "3"}, now=NOW + 7, policy=p).action == "retry"
    assert d(req(), 429, state=Attempt(NOW, attempts=7)) == Decision(
        "fail", reason="too many attempts")
    assert d(req(), 429, state=Attempt(NOW, attempts=6)).action == "retry"
    assert d(req(), 429, {"retry-after": "1"}, policy=Policy()).action == "retry"


def test_network_failures() -> None:
    assert d(req("GET"), 0, network="dropped") == Decision("retry", 0.0,
                                                          reason="connection dropped")
    assert d(req("POST"), 0, network="dropped") == Decision("fail", reason="network: dropped")
    assert d(req("POST", guarded=True), 0, network="dropped").action == "retry"
    assert d(req("GET"), 0, network="dropped", state=Attempt(NOW, drops=1)).action == "fail"
    assert d(req("GET"), 0, network="dropped", state=Attempt(NOW, attempts=7)).action == "fail"
    assert d(req("GET"), 0, network="dropped", state=Attempt(NOW, attempts=6)).action == "retry"
    assert d(req("GET"), 0, network="timeout").action == "fail"
    assert d(req("GET"), 0, network="connect").reason == "network: connect"


def test_backoff_is_capped_exponential_with_jitter() -> None:
    p = Policy()
    assert backoff(0, p, 0.0) == 0.25 and backoff(0, p, 0.5) == 0.375
    assert backoff(1, p, 1.0) == 1.0 and backoff(3, p, 0.0) == 2.0
    assert backoff(10, p, 1.0) == 30.0 and backoff(10, p, 0.0) == 15.0
    assert backoff(2, Policy(base=1.0, cap=3.0), 1.0) == 3.0


def test_advance_counts_attempts_waits_refreshes_and_drops() -> None:
    s = Attempt(started=NOW)
    assert s.spent(NOW + 3) == 3 and Attempt(NOW, waited=5).spent(NOW + 3) == 5
    s1 = advance(s, Decision("refresh"))
    assert (s1.attempts, s1.refreshed, s1.retries, s1.waited, s1.drops) == (1, True, 0, 0.0, 0)
    s2 = advance(s1, Decision("retry", 2.5, reason="429"))
    assert (s2.attempts, s2.refreshed, s2.retries, s2.waited, s2.drops) == (2, True, 1, 2.5, 0)
    s3 = advance(s2, Decision("retry", 0.0, reason="connection dropped"))
    assert (s3.attempts, s3.retries, s3.waited, s3.drops) == (3, 2, 2.5, 1)


def test_details_callers_see() -> None:
    # /me without a mailbox is "me"; a body of bytes is carried as is
    r = build_request(BASE, "PUT", "/me/photo/$value", content=b"\x89PNG")
    assert r.mailbox == "me" and r.content == b"\x89PNG"
    # an envelope without a code or a message: the status names it
    e = error_from(400, {"error": {"message": "bad"}}, {})
    assert e.code == "HTTP400" and e.message == "Graph answered 400 HTTP400: bad"
    e = error_from(502, "<html>", {})
    assert e.message == "Graph answered 502 HTTP502: no message" and e.advice == ""
    e = error_from(429, {"error": {"code": "TooMany", "message": "slow"}},
                   {"retry-after": formatdate(NOW + 30, usegmt=True)}, NOW)
    assert e.retry_after == 30.0 and e.message == "Graph answered 429 TooMany: slow"
    assert e.advice == ""
    e = error_from(404, {"error": {"code": "ErrorItemNotFound", "message": "gone"}}, {})
    assert e.message == "Graph answered 404 ErrorItemNotFound: gone"
    # decide's defaults: a jitter factor of 0.75, and an HTTP-date read against ``now``
    got = decide(req(), Outcome(503, {}), Attempt(started=NOW), now=NOW)
    assert got.delay == 0.375
    date = {"retry-after": formatdate(NOW + 9, usegmt=True)}
    assert d(req(), 429, date) == Decision("retry", 9.0, 9.0, "429")
    assert d(req(), 503, date).delay == 9.0

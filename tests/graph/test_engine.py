"""The Graph engine against the emulator over real HTTPS: retries by method, 401 refresh,
Retry-After (seconds and HTTP date) within the budget, the per-mailbox gate, paging, the
escape hatch sync and async, and the Prefer options."""

from __future__ import annotations

import asyncio
import threading
import time
from email.utils import formatdate
from typing import Any

import httpx
import pytest
from graph_support import INBOX, OPS, graph_records

from m365bot.auth.tokens import make_access_token
from m365bot.config import Settings
from m365bot.errors import AuthError, GraphError, ThrottledError
from m365bot.graph import AsyncGraph, Graph, Policy
from m365bot.sessions import Session


class CountingTokens:
    """A token source that counts forced refreshes (wrapping the session's)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.forced = 0
        self.calls = 0

    def get_token(self, *, force_refresh: bool = False) -> Any:
        self.calls += 1
        self.forced += force_refresh
        return self.inner.get_token(force_refresh=force_refresh)


def test_401_refreshes_the_token_once_and_retries(clean_emulator: Any, session: Session,
                                                  settings: Settings) -> None:
    tokens = CountingTokens(session.token_provider)
    graph = Graph("https://graph.microsoft.com", tokens, settings, mailbox=OPS)
    clean_emulator.clock.advance(2 * 3600)  # the emulator now sees the cached token as expired
    assert graph.get(INBOX, params={"$top": 1}).status == 200
    assert [r["status"] for r in graph_records(clean_emulator)] == [401, 200]
    assert tokens.forced == 1 and tokens.calls == 2  # a token per attempt, one refresh
    clean_emulator.control.add_fault(op="messages.list", kind="status", status=401, count=2)
    with pytest.raises(AuthError):  # refused again after the refresh: no storm
        graph.get(INBOX)
    assert tokens.forced == 2
    graph.close()


def test_async_engine_reuses_a_fresh_token_and_refreshes_once_on_401(
        clean_emulator: Any, session: Session, settings: Settings) -> None:
    tokens = CountingTokens(session.token_provider)
    graph = AsyncGraph("https://graph.microsoft.com", tokens, settings, mailbox=OPS)

    async def go() -> list[int]:
        statuses = [(await graph.get(INBOX, params={"$top": 1})).status for _ in range(3)]
        clean_emulator.clock.advance(2 * 3600)  # the emulator now sees the held token as expired
        statuses.append((await graph.get(INBOX, params={"$top": 1})).status)
        await graph.aclose()
        return statuses

    assert asyncio.run(go()) == [200, 200, 200, 200]
    assert [r["status"] for r in graph_records(clean_emulator)] == [200, 200, 200, 401, 200]
    assert tokens.calls == 2 and tokens.forced == 1  # one fetch while fresh, one refresh


def test_post_is_not_retried_after_503_unless_guarded(clean_emulator: Any,
                                                      session: Session) -> None:
    clean_emulator.control.add_fault(op="messages.create", kind="status", status=503, retry_after=0,
                                     count=1)
    with pytest.raises(GraphError) as ei:
        session.graph.post(f"/users/{OPS}/messages", json={"subject": "unguarded"})
    assert ei.value.status == 503 and clean_emulator.control.count("messages.create") == 1
    clean_emulator.control.add_fault(op="messages.create", kind="status", status=503, retry_after=0,
                                     count=1)
    r = session.graph.post(f"/users/{OPS}/messages", json={"subject": "guarded"},
                           guarded=True)
    assert r.status == 201 and r.body["subject"] == "guarded"
    assert clean_emulator.control.count("messages.create") == 3
    # a 429 is retried for a POST too: the throttled request was not processed
    clean_emulator.control.add_fault(op="messages.create", kind="status", status=429, retry_after=0,
                                     count=1)
    assert session.graph.post(f"/users/{OPS}/messages", json={"subject": "x"}).status == 201
    assert clean_emulator.control.count("messages.create", 429) == 1
    assert clean_emulator.control.count("messages.create", 201) == 2


def test_504_on_a_get_is_retried_with_backoff(clean_emulator: Any, session: Session) -> None:
    clean_emulator.control.add_fault(op="messages.list", kind="status", status=504, count=2)
    assert session.graph.get(INBOX, params={"$top": 1}).status == 200
    assert [r["status"] for r in graph_records(clean_emulator)] == [504, 504, 200]


def test_retry_after_in_seconds_is_honoured(clean_emulator: Any, session: Session) -> None:
    clean_emulator.control.add_fault(op="messages.list", kind="status", status=429, retry_after=1,
                                     count=1)
    started = time.monotonic()
    assert session.graph.get(INBOX, params={"$top": 1}).status == 200
    assert time.monotonic() - started >= 0.95
    assert [r["status"] for r in graph_records(clean_emulator)] == [429, 200]


def _date_then_ok(now: float, wait: float) -> Any:
    answers = iter([
        httpx.Response(429, headers={"Retry-After": formatdate(now + wait, usegmt=True)},
                       json={"error": {"code": "ApplicationThrottled", "message": "slow"}}),
        httpx.Response(200, json={"value": []}),
    ])
    return lambda req: next(answers)


def test_retry_after_as_an_http_date_is_honoured_within_the_budget() -> None:
    now = 1_900_000_000.0  # whole seconds: an HTTP date has no fraction
    slept: list[float] = []
    tokens = CountingTokens(_Fixed())
    g = Graph("https://graph.microsoft.com", tokens, Settings(), clock=lambda: now,
              transport=httpx.MockTransport(_date_then_ok(now, 7)), sleep=slept.append)
    assert g.get("/users/x@y.com/messages").status == 200
    assert slept == [7.0]
    # a date past the budget fails at once, with the wait the server asked for
    g = Graph("https://graph.microsoft.com", _Fixed(), Settings(), clock=lambda: now,
              transport=httpx.MockTransport(_date_then_ok(now, 600)), sleep=slept.append,
              policy=Policy(budget=60))
    with pytest.raises(ThrottledError) as ei:
        g.get("/users/x@y.com/messages")
    assert ei.value.retry_after == 600 and slept == [7.0]


class _Fixed:
    def get_token(self, *, force_refresh: bool = False) -> Any:
        return make_access_token("CANARY-not-a-real-token", 3600, "cache")


def test_a_429_pauses_every_request_to_the_mailbox(clean_emulator: Any, session: Session) -> None:
    clean_emulator.control.add_fault(op="messages.list", kind="status", status=429, retry_after=2,
                                     count=1)
    done: dict[str, float] = {}

    def first() -> None:
        session.graph.get(INBOX, params={"$top": 1})
        done["first"] = time.monotonic()

    gate = session.graph.limiter(OPS, session.token())
    t = threading.Thread(target=first)
    t.start()
    deadline = time.monotonic() + 10
    while gate.gate_wait() < 1 and time.monotonic() < deadline:  # the 429 came back
        time.sleep(0.005)
    started = time.monotonic()
    # another request to the same mailbox (another operation, never throttled itself)
    session.graph.get(f"/users/{OPS}/mailFolders/inbox", params={"$select": "id"})
    other = time.monotonic() - started
    t.join()
    assert other >= 1.5  # it waited at the mailbox's gate
    assert clean_emulator.control.count("mailFolders.get", 429) == 0
    assert clean_emulator.control.count("messages.list", 429) == 1


def test_paging_follows_next_links_across_pages(clean_emulator: Any, session: Session) -> None:
    everything = session.graph.get(INBOX, params={"$top": 1000, "$select": "id"}).body["value"]
    assert len(everything) >= 3
    clean_emulator.control.clear()
    seen = list(session.graph.paginate(INBOX, select=["id", "subject"], top=2))
    assert [m["id"] for m in seen] == [m["id"] for m in everything]
    assert all(set(m) <= {"id", "subject", "@odata.etag"} for m in seen)
    pages = graph_records(clean_emulator, op="messages.list")
    assert len(pages) == -(-len(everything) // 2)  # ceil: every page, none twice


def test_the_escape_hatch_sync_and_async(clean_emulator: Any, session: Session) -> None:
    created = session.graph_request("POST", f"/users/{OPS}/messages",
                                    json={"subject": "hatch"}).body
    mid = created["id"]
    r = session.graph_request("PATCH", f"/users/{OPS}/messages/{mid}",
                              json={"subject": "hatch 2"})
    assert r.body["subject"] == "hatch 2" and r.request_id

    async def go() -> Any:
        got = await session.agraph_request("GET", f"/users/{OPS}/messages/{mid}",
                                           params={"$select": "subject"})
        await session.agraph_request("DELETE", f"/users/{OPS}/messages/{mid}")
        return got

    assert asyncio.run(go()).body["subject"] == "hatch 2"
    assert clean_emulator.control.count("messages.delete", 204) == 1


def test_prefer_options_reach_graph(clean_emulator: Any, session: Session) -> None:
    mid = session.graph.get(INBOX, params={"$top": 1, "$select": "id"}).body["value"][0]["id"]
    r = session.graph.get(f"/users/{OPS}/messages/{mid}", params={"$select": "body"},
                          immutable_ids=True, body_type="text")
    applied = r.headers.get("preference-applied", "")
    assert "outlook.body-content-type" in applied and r.body["body"]["contentType"] == "text"

"""What the sync and async Graph shells share, without I/O: options, request building, the
limiter key, headers per attempt, and turning an attempt that failed into the right error.

Example::

    class Graph(BaseGraph): ...     # m365bot.graph.client
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from m365bot.auth.tokens import AccessToken, TokenProvider
from m365bot.config import Settings
from m365bot.errors import AuthError, GraphError, M365BotError, SessionError, ThrottledError
from m365bot.graph.core import (
    Attempt,
    Decision,
    GraphRequest,
    Outcome,
    Policy,
    build_request,
    decide,
    error_from,
    parse_json,
)
from m365bot.graph.limits import Limiter, limiter_for
from m365bot.net import HttpFactory, transport_error

if TYPE_CHECKING:
    from m365bot.graph.batching import BatchResult

log = logging.getLogger("m365bot.graph")

# the connection broke before an answer came: the request may never have reached Graph (a
# kept-alive connection the server had closed) or may have been applied
DROPPED = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError,
           httpx.LocalProtocolError)


class GraphResponse:
    """Status, headers (lower-case names) and parsed JSON body of a Graph answer.

    Example::

        r = graph.get("/users/ops@contoso.com/mailFolders/inbox")
        r.status, r.body["id"], r.request_id
    """

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: Any) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def request_id(self) -> str:
        return self.headers.get("request-id", "")

    def __repr__(self) -> str:
        return f"<GraphResponse {self.status} request-id={self.request_id!r}>"


def lower_headers(resp: httpx.Response) -> dict[str, str]:
    return {k.lower(): v for k, v in resp.headers.items()}


def network_outcome(exc: httpx.HTTPError) -> Outcome:
    """The :class:`Outcome` of a failed exchange: dropped, timeout or connect."""
    if isinstance(exc, httpx.TimeoutException):
        return Outcome(0, network="timeout")
    if isinstance(exc, DROPPED):
        return Outcome(0, network="dropped")
    return Outcome(0, network="connect")


class BaseGraph:
    """The engine's state: Graph's base URL, the token source, the mailbox ``/me`` stands
    for, the retry :class:`Policy`, the HTTP factory, and the clock."""

    def __init__(self, base_url: str, token_provider: TokenProvider, settings: Settings, *,
                 mailbox: str = "me", policy: Policy | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.base_url = base_url.rstrip("/")
        self.token_provider = token_provider
        self.mailbox = mailbox
        self.policy = policy or Policy()
        self.settings = settings
        self._factory = HttpFactory(settings)
        self.timeout = self._factory.timeout
        self._clock = clock
        self._host = urlsplit(self.base_url).hostname or ""
        # Set by Connect when it skipped its mailbox check (it passed for this token before):
        # a 403/404 goes through it, which reruns the check once and may answer with the
        # check's clearer error (m365bot.connect_check)
        self.recheck: Callable[[GraphError], M365BotError] | None = None

    def rechecked(self, exc: GraphError) -> M365BotError | None:
        """The error to raise instead of ``exc`` if it goes through :attr:`recheck` (a 403 or
        404 while Connect's skipped check is pending), else None: raise ``exc`` as it is."""
        if self.recheck is None or exc.status not in (403, 404):
            return None
        return self.recheck(exc)

    def batch_refusal(self, results: Sequence[BatchResult]) -> GraphError | None:
        """A ``$batch`` reports a 403/404 per item instead of raising it: the first such item
        as an error for :meth:`rechecked` while Connect's skipped check is pending, else None.
        """
        if self.recheck is None:
            return None
        item = next((r for r in results if r.status in (403, 404)), None)
        if item is None:
            return None
        return GraphError(f"batch item {item.id} answered {item.status} ({item.error_code})",
                          code=item.error_code, status=item.status)

    def build(self, method: str, path: str, *, params: dict[str, Any] | None = None,
              json: Any = None, headers: dict[str, str] | None = None,
              immutable_ids: bool = False, body_type: str | None = None,
              guarded: bool = False, accept: frozenset[int] = frozenset()) -> GraphRequest:
        """The :class:`GraphRequest` for a call (no token yet)."""
        return build_request(self.base_url, method, path, params=params, json=json,
                             headers=headers, immutable_ids=immutable_ids,
                             body_type=body_type, guarded=guarded, accept=accept,
                             me=self.mailbox)

    def limiter(self, mailbox: str, token: AccessToken | None) -> Limiter:
        """The process-wide limiter of (Graph host, app, mailbox). The app is the token's
        ``appid``/``azp``; a token without one limits per token source."""
        claims = token.claims if token is not None else {}
        app = str(claims.get("appid") or claims.get("azp") or f"source-{id(self.token_provider)}")
        return limiter_for((self._host, app.lower(), (mailbox or self.mailbox).lower()))

    @staticmethod
    def headers(req: GraphRequest, token: AccessToken | None) -> dict[str, str]:
        """The request's headers plus a bearer token (when ``req.auth``) and a fresh
        ``client-request-id``, which lets an administrator find the call in Graph's logs."""
        hdrs = dict(req.headers)
        hdrs["client-request-id"] = str(uuid.uuid4())
        if req.auth and token is not None:
            hdrs["Authorization"] = "Bearer " + token.token.reveal()
        return hdrs

    def pause(self, req: GraphRequest, state: Attempt, delay: float, lim: Limiter) -> float:
        """Seconds to wait before an attempt: the retry's delay, or longer while the
        mailbox's Retry-After gate is shut; ThrottledError when the gate stays shut past the
        request's time budget."""
        pause = max(delay, lim.gate_wait())
        if pause > delay and state.spent(self._clock()) + pause > self.policy.budget:
            raise ThrottledError(
                f"the mailbox is paused by Graph's throttling for {pause:.0f} s more, past "
                f"the {self.policy.budget:g} s budget", code="ApplicationThrottled",
                status=429, retry_after=pause,
                advice="too many requests to this mailbox: slow down and retry later")
        return pause

    @staticmethod
    def answer(resp: httpx.Response, *, streamed: bool) -> tuple[Outcome, bytes]:
        """The outcome of an answer and its body (empty when a success was streamed)."""
        outcome = Outcome(resp.status_code, lower_headers(resp))
        return outcome, b"" if streamed and resp.status_code < 300 else resp.content

    def conclude(self, req: GraphRequest, outcome: Outcome, body: bytes,
                 exc: httpx.HTTPError | None, state: Attempt,
                 lim: Limiter) -> GraphResponse | Decision:
        """After an attempt: the response when done, the error raised when the policy gives
        up, else the :class:`Decision` (refresh or retry) for the next attempt. A 429 shuts
        the mailbox's gate."""
        d = decide(req, outcome, state, now=self._clock(), rand=random.random(),
                   policy=self.policy)
        if d.gate:
            lim.close_gate(d.gate)
        if d.action == "done":
            return GraphResponse(outcome.status, outcome.headers, parse_json(body))
        if d.action == "fail":
            raise self.failure(req, outcome, body, exc)
        if d.action == "retry":
            self.log_retry(req, outcome, d.delay)
        return d

    def failure(self, req: GraphRequest, outcome: Outcome, body: bytes,
                exc: httpx.HTTPError | None) -> M365BotError:
        """The error for an attempt the policy gave up on."""
        if exc is not None:
            return transport_error(exc, req.url, self.timeout)
        err = error_from(outcome.status, parse_json(body), outcome.headers, self._clock())
        if outcome.status == 401 and req.auth:
            return AuthError(
                f"Graph refused the token twice ({err.code}): {err.message}", code=err.code,
                advice="check that the Azure cloud setting matches the tenant and that "
                "the app's permissions were consented; then sign in again")
        return err

    @staticmethod
    def closed_error() -> SessionError:
        return SessionError("this session was disconnected",
                            advice="run Connect again to open a new session")

    def log_retry(self, req: GraphRequest, outcome: Outcome, delay: float) -> None:
        what = outcome.network or str(outcome.status)
        log.info("Graph %s %s got %s; retrying in %.1f s", req.method,
                 urlsplit(req.url).path, what, delay)


__all__ = ["DROPPED", "BaseGraph", "GraphResponse", "lower_headers", "network_outcome"]

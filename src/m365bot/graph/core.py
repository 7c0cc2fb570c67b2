"""The Graph engine's core, without I/O: it builds requests, parses answers and decides what
to do after each attempt. The sync shell (:mod:`m365bot.graph.client`) and the async shell
(:mod:`m365bot.graph.aclient`) only send what this module builds and sleep for as long as it
says. Nothing here ever sees a token.

The retry rules (:func:`decide`):

* 2xx/3xx: done; so is an error status the request ``accept``s (the caller's to handle: a
  create that Outlook may have carried out although it answered 429); an accepted 429 still
  closes the mailbox's gate.
* 401: refresh the token once and retry; a second 401 fails (``AuthError``).
* 429: retried for every method (a throttled request was not processed), after Retry-After
  (seconds or an HTTP date); the mailbox's gate closes for that long, pausing every request
  to the mailbox in this process.
* 503, 504: retried only when the request is idempotent (GET, HEAD, OPTIONS, PUT, DELETE) or
  ``guarded`` (the caller checks for duplicates itself), after Retry-After or a capped
  exponential backoff with jitter.
* a connection dropped before the answer (reset, protocol error): resent once, only when
  idempotent or guarded. Timeouts and failed connects are not retried (the timeout is the
  wait the caller chose; a failed connect repeats).
* everything waits within the request's total time budget (:attr:`Policy.budget`): a wait
  that would pass it fails at once (``ThrottledError`` carries the server's Retry-After).

Example::

    req = build_request("https://graph.microsoft.com", "GET", "/users/a@b.com/messages",
                        params={"$top": 5})
    state = Attempt(started=0.0)
    d = decide(req, Outcome(429, {"retry-after": "2"}), state, now=0.1, rand=0.5)
    d.action, d.delay, d.gate      # ('retry', 2.0, 2.0)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from m365bot.errors import GraphError, NotFoundError, ThrottledError

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# the default total time budget of one request (every wait and attempt), in seconds: a longer
# Retry-After fails at once with the server's value in ThrottledError.retry_after
MAX_RETRY_AFTER = 120.0
CONCURRENCY = 4  # Outlook's limit: requests in flight per app and mailbox

_ADVICE = {
    "ErrorAccessDenied": "the app or user may not open this mailbox: grant the permission, "
    "remove the application access policy restriction, or give the user FullAccess",
    "MailboxNotEnabledForRESTAPI": "this mailbox is not an Exchange Online mailbox with REST "
    "access (on-premises, inactive or unlicensed): use a licensed Exchange Online mailbox",
    "ErrorInvalidUser": "no mailbox has this address in the tenant: check the username",
    "ResourceNotFound": "check the address or id in the request",
    "ErrorItemNotFound": "the item was moved or deleted: list the folder again",
    "InvalidAuthenticationToken": "the token was refused: check the Azure cloud setting and "
    "that the token is for Microsoft Graph",
    "Authorization_RequestDenied": "the token lacks the permission this call needs: add it "
    "and grant admin consent",
    "ErrorSendAsDenied": "the user has no SendAs right on this mailbox",
    "ApplicationThrottled": "too many requests to this mailbox: slow down and retry later",
}


# -- requests --------------------------------------------------------------------------------

@dataclass(frozen=True)
class GraphRequest:
    """One Graph request, ready to send (no token: the shell adds it per attempt).

    ``mailbox`` is the limiter key's mailbox (from ``/users/{id}`` or ``/me``); ``auth`` is
    False for upload URLs, which carry their own credential. ``http2`` is False for an upload
    session's chunks: a 4 MiB body through HTTP/2's 64 KiB flow-control windows moves at
    half the speed of HTTP/1.1 or less (bench B5), so they go over HTTP/1.1 connections of
    their own, still under the mailbox's limit of requests in flight."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None
    guarded: bool = False
    mailbox: str = ""
    auth: bool = True
    slots: int = 1
    accept: frozenset[int] = frozenset()  # error statuses that are answers for the caller
    http2: bool = True

    @property
    def retry_safe(self) -> bool:
        """Whether sending it twice is harmless: idempotent, or guarded by the caller."""
        return self.guarded or self.method in IDEMPOTENT


def build_url(base_url: str, path: str, params: dict[str, Any] | None = None) -> str:
    """``base_url`` + ``/v1.0`` + ``path`` (a path starting with ``/``, or a full URL such as
    an ``@odata.nextLink``); OData ``$`` options keep their dollar sign.

    Example::

        build_url("https://graph.microsoft.com", "/users/a@b.com/messages", {"$top": 1})
    """
    if path.startswith("https://"):
        url = path
    else:
        if not path.startswith("/"):
            path = "/" + path
        url = base_url.rstrip("/") + "/v1.0" + path
    if params:
        pairs = [f"{quote(str(k), safe='$')}={quote(_param(v), safe=',$:()/')}"
                 for k, v in params.items() if v is not None]
        url += ("&" if "?" in url else "?") + "&".join(pairs)
    return url


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def prefer_header(*, immutable_ids: bool = False, body_type: str | None = None,
                  extra: str | None = None) -> str | None:
    """The ``Prefer`` header value: ``IdType="ImmutableId"`` (ids that survive a move) and
    ``outlook.body-content-type`` (``"text"`` or ``"html"``), or None.

    Example::

        prefer_header(immutable_ids=True, body_type="text")
        # 'IdType="ImmutableId", outlook.body-content-type="text"'
    """
    parts = []
    if immutable_ids:
        parts.append('IdType="ImmutableId"')
    if body_type is not None:
        if body_type not in ("text", "html"):
            raise ValueError(f"body_type must be 'text' or 'html', not {body_type!r}")
        parts.append(f'outlook.body-content-type="{body_type}"')
    if extra:
        parts.append(extra)
    return ", ".join(parts) or None


def mailbox_of(url: str, me: str = "me") -> str:
    """The mailbox a Graph URL addresses (lower-case), for the per-mailbox limits: the id or
    address after ``/users/``, ``me`` for ``/me`` (or the signed-in user, ``me``), else ''.

    Example::

        mailbox_of("https://graph.microsoft.com/v1.0/users/Ops%40contoso.com/messages")
        # 'ops@contoso.com'
    """
    parts = [p for p in urlsplit(url).path.split("/") if p]
    if parts and parts[0] in ("v1.0", "beta"):
        parts = parts[1:]
    if len(parts) >= 2 and parts[0].lower() == "users":
        return unquote(parts[1]).lower()
    if parts and parts[0].lower() == "me":
        return me.lower()
    return ""


def mailbox_path(mailbox: str) -> str:
    """``/users/{address}`` with the address URL-quoted (``/me`` for ``me``)."""
    if mailbox.lower() == "me":
        return "/me"
    return "/users/" + quote(mailbox, safe="@")


def build_request(base_url: str, method: str, path: str, *,
                  params: dict[str, Any] | None = None, json: Any = None,
                  content: bytes | None = None, headers: dict[str, str] | None = None,
                  immutable_ids: bool = False, body_type: str | None = None,
                  guarded: bool = False, accept: frozenset[int] = frozenset(),
                  me: str = "me") -> GraphRequest:
    """A :class:`GraphRequest` for ``method path`` with Graph's headers; ``accept``: error
    statuses returned as answers instead of retried or raised.

    Example::

        build_request(base, "POST", "/users/a@b.com/sendMail", json=msg, guarded=True)
    """
    method = method.upper()
    url = build_url(base_url, path, params)
    hdrs = {"Accept": "application/json"}
    prefer = prefer_header(immutable_ids=immutable_ids, body_type=body_type)
    if prefer:
        hdrs["Prefer"] = prefer
    hdrs.update(headers or {})
    return GraphRequest(method, url, hdrs, json=json, content=content, guarded=guarded,
                        mailbox=mailbox_of(url, me), accept=accept)


# -- answers -------------------------------------------------------------------------------------

def parse_json(text: str | bytes) -> Any:
    """The JSON body, or None when it is not JSON."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def retry_after(headers: dict[str, str], now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header, in seconds or HTTP-date form (``now``: epoch
    seconds, to turn a date into a wait); None when absent or unreadable.

    Example::

        retry_after({"retry-after": "3"})                                         # 3.0
        retry_after({"retry-after": "Wed, 21 Oct 2026 07:28:05 GMT"}, now=...)     # seconds
    """
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when - (now or 0.0))


def error_from(status: int, body: Any, headers: dict[str, str],
               now: float | None = None) -> GraphError:
    """A :class:`GraphError` (or its 404/429 branch) from Graph's error envelope."""
    code, message, request_id = "", "", ""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        code = str(err.get("code") or "")
        message = str(err.get("message") or "")
        inner = err.get("innerError") or err.get("innererror") or {}
        if isinstance(inner, dict):
            request_id = str(inner.get("request-id") or "")
    request_id = request_id or headers.get("request-id", "")
    code = code or f"HTTP{status}"
    text = f"Graph answered {status} {code}: {message[:300] or 'no message'}"
    kw: dict[str, Any] = {"code": code, "status": status, "request_id": request_id,
                          "advice": _ADVICE.get(code, "")}
    if status == 429:
        return ThrottledError(text, retry_after=retry_after(headers, now) or 0.0, **kw)
    if status == 404 and code != "MailboxNotEnabledForRESTAPI":
        return NotFoundError(text, **kw)
    return GraphError(text, **kw)


# -- deciding ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Policy:
    """How hard to try: the total time ``budget`` of one request, at most ``max_attempts``
    attempts, and the backoff (``base`` doubled per retry, capped at ``cap``, with jitter)
    when the server gives no Retry-After.

    Example::

        Policy(budget=30.0)
    """

    budget: float = MAX_RETRY_AFTER
    max_attempts: int = 8
    base: float = 0.5
    cap: float = 30.0
    resends: int = 1  # resends after a dropped connection


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: an HTTP status and its headers (lower-case names), or a network
    failure (``status`` 0, ``network`` "dropped", "timeout" or "connect")."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    network: str = ""


@dataclass(frozen=True)
class Attempt:
    """Where one request stands: when it started (epoch seconds), attempts made before the
    current one, whether the token was refreshed, seconds waited (the delays decided so far),
    connections dropped, retries so far."""

    started: float
    attempts: int = 0
    refreshed: bool = False
    waited: float = 0.0
    drops: int = 0
    retries: int = 0

    def spent(self, now: float) -> float:
        """Seconds used of the budget: waited, or elapsed when more (a stubbed sleep)."""
        return max(self.waited, now - self.started)


@dataclass(frozen=True)
class Decision:
    """What to do next: ``done``; ``refresh`` (a new token, then retry at once); ``retry``
    after ``delay`` seconds; or ``fail``. ``gate`` > 0 closes the mailbox's Retry-After
    gate for that many seconds (a 429). ``reason`` says why, for logs and errors."""

    action: str
    delay: float = 0.0
    gate: float = 0.0
    reason: str = ""


def backoff(retries: int, policy: Policy, rand: float) -> float:
    """Capped exponential backoff with jitter: ``base * 2**retries`` capped at ``cap``,
    times a factor between 0.5 and 1 (``rand`` in [0, 1)).

    Example::

        backoff(3, Policy(), 0.5)     # 3.0
    """
    return float(min(policy.cap, policy.base * 2.0 ** retries)) * (0.5 + rand / 2)


def decide(req: GraphRequest, outcome: Outcome, state: Attempt, *, now: float,
           rand: float = 0.5, policy: Policy | None = None) -> Decision:
    """The retry policy (see the module's docstring) for one attempt's ``outcome``.

    Example::

        decide(req, Outcome(503, {}), Attempt(started=now), now=now)   # retry if idempotent
    """
    policy = policy or Policy()
    status = outcome.status
    if outcome.network:
        if (outcome.network == "dropped" and req.retry_safe and state.drops < policy.resends
                and state.attempts + 1 < policy.max_attempts):
            return Decision("retry", 0.0, reason="connection dropped")
        return Decision("fail", reason=f"network: {outcome.network}")
    if status < 400:
        return Decision("done")
    if status in req.accept:  # the caller's answer; a 429 still shuts the mailbox's gate
        wait = retry_after(outcome.headers, now) if status == 429 else None
        return Decision("done", gate=wait or 0.0, reason=str(status))
    if status == 401 and req.auth:
        return Decision("fail" if state.refreshed else "refresh", reason="401")
    if status == 429 or (status in (503, 504) and req.retry_safe):
        if state.attempts + 1 >= policy.max_attempts:
            return Decision("fail", reason="too many attempts")
        wait = retry_after(outcome.headers, now)
        delay = wait if wait is not None else backoff(state.retries, policy, rand)
        if state.spent(now) + delay > policy.budget:
            return Decision("fail", reason="time budget")
        return Decision("retry", delay, gate=delay if status == 429 else 0.0,
                        reason=str(status))
    return Decision("fail", reason=str(status))


def advance(state: Attempt, decision: Decision) -> Attempt:
    """The state for the next attempt after ``decision`` (refresh or retry)."""
    state = replace(state, attempts=state.attempts + 1, waited=state.waited + decision.delay)
    if decision.action == "refresh":
        return replace(state, refreshed=True)
    if decision.reason == "connection dropped":
        return replace(state, drops=state.drops + 1, retries=state.retries + 1)
    return replace(state, retries=state.retries + 1)


__all__ = ["CONCURRENCY", "IDEMPOTENT", "MAX_RETRY_AFTER", "Attempt", "Decision",
           "GraphRequest", "Outcome", "Policy", "advance", "backoff", "build_request",
           "build_url", "decide", "error_from", "mailbox_of", "mailbox_path", "parse_json",
           "prefer_header", "retry_after"]

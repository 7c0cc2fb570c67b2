"""Graph request building and response parsing, without I/O.

The sync shell (:mod:`m365bot.graph.client`) sends what :func:`build_url` builds and asks
:func:`decide` what to do with each answer: return it, refresh the token and retry once, wait
``Retry-After`` and retry (idempotent requests only), or raise the error :func:`error_from`
made from Graph's envelope. Nothing here ever sees a token.

Example::

    from m365bot.graph.core import error_from
    err = error_from(404, {"error": {"code": "ErrorItemNotFound", "message": "..."}}, {})
    err.code       # 'ErrorItemNotFound'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from m365bot.errors import GraphError, NotFoundError, ThrottledError

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({429, 503, 504})
# the most one request waits in all (Retry-After and backoff) before it gives up, in seconds:
# a longer Retry-After fails at once with the server's value in ThrottledError.retry_after
MAX_RETRY_AFTER = 120.0

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
        pairs = [f"{quote(str(k), safe='$')}={quote(str(v), safe=',$:()/')}"
                 for k, v in params.items() if v is not None]
        url += ("&" if "?" in url else "?") + "&".join(pairs)
    return url


def mailbox_path(mailbox: str) -> str:
    """``/users/{address}`` with the address URL-quoted (``/me`` for ``me``)."""
    if mailbox.lower() == "me":
        return "/me"
    return "/users/" + quote(mailbox, safe="@")


def parse_json(text: str) -> Any:
    """The JSON body, or None when it is not JSON."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def retry_after(headers: dict[str, str], default: float = 1.0) -> float:
    """Seconds from a ``Retry-After`` header, else ``default``.

    Example::

        retry_after({"retry-after": "3"})   # 3.0
    """
    value = headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value else default
    except ValueError:
        return default


def error_from(status: int, body: Any, headers: dict[str, str]) -> GraphError:
    """A :class:`GraphError` (or its 404/429 branch) from Graph's error envelope."""
    code, message = "", ""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        code = str(err.get("code") or "")
        message = str(err.get("message") or "")
        inner = err.get("innerError") or err.get("innererror") or {}
        request_id = str(inner.get("request-id") or "") if isinstance(inner, dict) else ""
    else:
        request_id = ""
    request_id = request_id or headers.get("request-id", "")
    code = code or f"HTTP{status}"
    text = f"Graph answered {status} {code}: {message[:300] or 'no message'}"
    advice = _ADVICE.get(code, "")
    kw: dict[str, Any] = {"code": code, "status": status, "request_id": request_id,
                          "advice": advice}
    if status == 429:
        return ThrottledError(text, retry_after=retry_after(headers), **kw)
    if status == 404 and code not in ("MailboxNotEnabledForRESTAPI",):
        return NotFoundError(text, **kw)
    return GraphError(text, **kw)


@dataclass(frozen=True)
class Decision:
    """What to do with one answer: ``done``, ``refresh`` (401: refresh, retry once),
    ``wait`` (sleep ``delay`` and retry) or ``fail``."""

    action: str
    delay: float = 0.0


def decide(method: str, status: int, headers: dict[str, str], *, refreshed: bool,
           retries: int, max_retries: int, waited: float = 0.0) -> Decision:
    """The retry policy. 401 → one refresh; 429/503/504 → honour Retry-After for idempotent
    requests only (a POST may have been applied), up to ``max_retries`` retries and
    :data:`MAX_RETRY_AFTER` seconds of waiting in all (``waited`` so far).

    Example::

        decide("GET", 503, {"retry-after": "2"}, refreshed=False, retries=0, max_retries=3)
    """
    if status < 400:
        return Decision("done")
    if status == 401:
        return Decision("fail" if refreshed else "refresh")
    if status in RETRY_STATUSES and retries < max_retries and method.upper() in IDEMPOTENT:
        delay = retry_after(headers, default=float(2 ** retries))
        if waited + delay <= MAX_RETRY_AFTER:
            return Decision("wait", delay)
    return Decision("fail")


def resend_after_drop(method: str, *, resent: bool) -> bool:
    """Whether to send again a request whose connection dropped before the answer: once, and
    only an idempotent one (a kept-alive connection the server had closed is the common case;
    a POST may have been applied, so it is never resent blindly).

    Example::

        resend_after_drop("GET", resent=False)    # True
    """
    return not resent and method.upper() in IDEMPOTENT


__all__ = ["MAX_RETRY_AFTER", "Decision", "build_url", "decide", "error_from", "mailbox_path",
           "parse_json", "resend_after_drop", "retry_after"]

"""A small synchronous Microsoft Graph client, for the Connect action and the Outlook actions
built on it, over an httpx client (HTTP/2, keep-alive) from the one factory
(:mod:`m365bot.net`): proxy and CA come from :class:`~m365bot.config.Settings`, nothing from
the environment.

What to do with each answer is decided without I/O in :mod:`m365bot.graph.core`: a 401 makes
one forced token refresh and one retry (a second 401 raises
:class:`~m365bot.errors.AuthError`); 429/503/504 on idempotent requests wait ``Retry-After``
and retry, within :data:`~m365bot.graph.core.MAX_RETRY_AFTER` seconds of waiting in all; a
connection dropped before the answer is resent once for idempotent requests (never a POST,
which may have been applied). Errors carry Graph's code, message, request id and status,
never a token. Each attempt carries a fresh ``client-request-id``.

Example::

    from m365bot.graph import GraphClient
    client = GraphClient(Cloud.GLOBAL.graph_url, provider, settings)
    client.get("/users/ops@contoso.com/mailFolders/inbox", params={"$select": "id"})
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from m365bot.auth.tokens import TokenProvider
from m365bot.config import Settings
from m365bot.errors import AuthError, SessionError
from m365bot.graph.core import build_url, decide, error_from, parse_json, resend_after_drop
from m365bot.net import HttpFactory, network_errors

log = logging.getLogger(__name__)

# the connection broke before an answer came: the request may never have reached Graph (a
# kept-alive connection the server had closed) or may have been applied
DROPPED = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)


class GraphResponse:
    """Status, headers (lower-case names) and parsed JSON body of a Graph answer."""

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


class GraphClient:
    """Sends Graph requests with a bearer token from ``token_provider``.

    Example::

        client = GraphClient("https://graph.microsoft.us", provider, settings)
        client.get("/users/alice@fabrikam.us/messages", params={"$top": 1})
        client.close()
    """

    def __init__(
        self,
        base_url: str,
        token_provider: TokenProvider,
        settings: Settings,
        *,
        max_retries: int = 3,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token_provider = token_provider
        self.max_retries = max_retries
        self._sleep = sleep
        factory = HttpFactory(settings)
        self.timeout = factory.timeout
        self._http: httpx.Client | None = factory.client(http2=True, transport=transport)

    @property
    def closed(self) -> bool:
        return self._http is None

    def close(self) -> None:
        """Close the HTTP connections. Later requests raise SessionError."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def get(self, path: str, *, params: dict[str, Any] | None = None) -> GraphResponse:
        """GET ``path`` (relative to ``/v1.0``)."""
        return self.request("GET", path, params=params)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> GraphResponse:
        """Send one Graph request; raises GraphError / AuthError / TransportError."""
        url = build_url(self.base_url, path, params)
        refreshed, retries, waited = False, 0, 0.0
        token = self.token_provider.get_token()
        while True:
            resp = self._send(method, url, token.token.reveal(), json, headers)
            hdrs = {k.lower(): v for k, v in resp.headers.items()}
            d = decide(method, resp.status_code, hdrs, refreshed=refreshed, retries=retries,
                       max_retries=self.max_retries, waited=waited)
            if d.action == "done":
                return GraphResponse(resp.status_code, hdrs, parse_json(resp.text))
            if d.action == "refresh":
                log.info("Graph answered 401; refreshing the token once and retrying")
                token = self.token_provider.get_token(force_refresh=True)
                refreshed = True
                continue
            if d.action == "wait":
                log.info("Graph answered %d; retrying in %.1f s", resp.status_code, d.delay)
                self._sleep(d.delay)
                retries += 1
                waited += d.delay
                continue
            err = error_from(resp.status_code, parse_json(resp.text), hdrs)
            if resp.status_code == 401:
                raise AuthError(
                    f"Graph refused the token twice ({err.code}): {err.message}",
                    code=err.code,
                    advice="check that the Azure cloud setting matches the tenant and that "
                    "the app's permissions were consented; then sign in again",
                )
            raise err

    def _send(self, method: str, url: str, token: str, body: Any,
              headers: dict[str, str] | None) -> httpx.Response:
        """One exchange; a dropped connection is resent once when that is safe."""
        resent = False
        with network_errors(url, self.timeout):
            while True:
                try:
                    return self._send_once(method, url, token, body, headers)
                except DROPPED:
                    if not resend_after_drop(method, resent=resent):
                        raise
                    log.info("the connection to %s dropped before the answer; resending %s "
                             "once", urlsplit(url).hostname, method)
                    resent = True

    def _send_once(self, method: str, url: str, token: str, body: Any,
                   headers: dict[str, str] | None) -> httpx.Response:
        if self._http is None:
            raise SessionError("this session was disconnected",
                               advice="run Connect again to open a new session")
        # client-request-id lets an administrator find this call in Graph's and Entra's logs
        hdrs = {"Authorization": "Bearer " + token, "Accept": "application/json",
                "client-request-id": str(uuid.uuid4())}
        hdrs.update(headers or {})
        started = time.perf_counter()
        resp = self._http.request(method, url, json=body, headers=hdrs)
        log.debug("%s %s%s -> %d (%.0f ms)", method, urlsplit(url).hostname, urlsplit(url).path,
                  resp.status_code, (time.perf_counter() - started) * 1000)
        return resp

    def __repr__(self) -> str:
        return f"<GraphClient {self.base_url} {'closed' if self.closed else 'open'}>"


__all__ = ["GraphClient", "GraphResponse"]

"""A small synchronous Microsoft Graph client, for the Connect action and the Outlook actions
built on it. It sends over a stdlib keep-alive connection (:mod:`m365bot.graph.stdhttp`, so a
fresh process never imports httpx), or over httpx (HTTP/2) for an injected transport or a
proxy only httpx handles (``https://`` or with credentials).

Proxy and CA come from :class:`~m365bot.config.Settings` (nothing from the environment). A 401
makes one forced token refresh and one retry; a second 401 raises
:class:`~m365bot.errors.AuthError`. 429/503/504 on idempotent requests wait ``Retry-After`` and
retry. Errors carry Graph's code, message, request id and status, never a token.

Example::

    from m365bot.graph import GraphClient
    client = GraphClient(Cloud.GLOBAL.graph_url, provider, settings)
    client.get("/users/ops@contoso.com/mailFolders/inbox", params={"$select": "id"})
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from m365bot.auth.http import httpx_client, import_httpx
from m365bot.auth.tokens import TokenProvider
from m365bot.config import Settings
from m365bot.errors import AuthError, SessionError
from m365bot.graph.core import build_url, decide, error_from, parse_json
from m365bot.graph.stdhttp import StdlibResponse, StdlibTransport, network_error

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)


def _uuid4() -> str:
    """A random (version 4) UUID string, like ``str(uuid.uuid4())`` without importing uuid
    (which imports platform: ~5 ms of a fresh process)."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


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
        self.settings = settings
        self.max_retries = max_retries
        self._sleep = sleep
        # httpx (HTTP/2) only for an injected transport or a proxy the stdlib cannot use: a
        # fresh process then imports neither httpx nor httpcore/h2 (bench/bench_connect.py)
        self._http: httpx.Client | StdlibTransport | None
        if transport is None and StdlibTransport.supports(settings):
            self._http = StdlibTransport(settings)
        else:
            self._http = httpx_client(settings, http2=True, transport=transport)
        self.requests_sent = 0

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
        refreshed, retries = False, 0
        token = self.token_provider.get_token()
        while True:
            resp = self._send(method, url, token.token.reveal(), json, headers)
            hdrs = {k.lower(): v for k, v in resp.headers.items()}
            d = decide(method, resp.status_code, hdrs, refreshed=refreshed, retries=retries,
                       max_retries=self.max_retries)
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
              headers: dict[str, str] | None) -> httpx.Response | StdlibResponse:
        if self._http is None:
            raise SessionError("this session was disconnected",
                               advice="run Connect again to open a new session")
        # client-request-id lets an administrator find this call in Graph's and Entra's logs
        hdrs = {"Authorization": "Bearer " + token, "Accept": "application/json",
                "client-request-id": _uuid4()}
        hdrs.update(headers or {})
        host = urlsplit(url).hostname
        started = time.perf_counter()
        self.requests_sent += 1
        if isinstance(self._http, StdlibTransport):
            resp: httpx.Response | StdlibResponse = self._http.request(
                method, url, json=body, headers=hdrs)  # maps its errors via network_error
        else:
            import_httpx()
            import httpx

            try:
                resp = self._http.request(method, url, json=body, headers=hdrs)
            except httpx.TimeoutException:
                raise network_error("timeout", host, self.settings) from None
            except httpx.ProxyError:
                raise network_error("proxy", host, self.settings) from None
            except httpx.HTTPError as exc:
                raise network_error("other", host, self.settings,
                                    f"{type(exc).__name__}: {exc}") from None
        log.debug("%s %s%s -> %d (%.0f ms)", method, host, urlsplit(url).path, resp.status_code,
                  (time.perf_counter() - started) * 1000)
        return resp

    def __repr__(self) -> str:
        return f"<GraphClient {self.base_url} {'closed' if self.closed else 'open'}>"


__all__ = ["GraphClient", "GraphResponse"]

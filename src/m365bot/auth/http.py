"""msal's HTTP client: a requests-like adapter over an httpx client from the one factory
(:mod:`m365bot.net`), so sign-in trusts the same CAs and uses the same proxy as Graph.

msal expects a requests-like object (``get(url, params=, headers=, **kw)``,
``post(url, params=, data=, headers=, **kw)`` returning something with ``status_code``,
``text``, ``headers`` and ``raise_for_status()``). DEBUG logs show method, host, path, status
and time: never a query string, a body or a header value.

A 5xx from the identity platform (AADSTS90033 ``temporarily_unavailable``, or a bare 503) is
raised here as :class:`~m365bot.auth.advice.IdentityUnavailable`, an ``AuthError`` with advice,
instead of msal's ``MsalServiceError: HTTP Error: 503``; the token providers retry it once
after :func:`pause_before_retry`.

Example::

    from m365bot.auth.http import MsalHttpClient
    client = MsalHttpClient(Settings(proxy=info["proxy_url"], ca_bundle=info["ca_bundle"]))
    msal.ConfidentialClientApplication(cid, ..., http_client=client)
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from m365bot.auth.advice import IdentityUnavailable, identity_unavailable
from m365bot.config import Settings
from m365bot.errors import TransportError
from m365bot.net import HttpFactory, network_errors
from m365bot.redact import install_log_filter

log = logging.getLogger(__name__)

# the longest pause before the one retry of a token request the identity platform answered 5xx
MAX_TOKEN_RETRY_PAUSE = 10.0


class HttpResponse:
    """The part of a response msal reads."""

    __slots__ = ("headers", "status_code", "text")

    def __init__(self, status_code: int, text: str, headers: dict[str, str]) -> None:
        self.status_code = status_code
        self.text = text
        self.headers = headers

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise TransportError(
                f"the identity platform answered HTTP {self.status_code}",
                advice="try again later; if it persists, check the service health",
            )

    def json(self) -> Any:
        import json

        return json.loads(self.text)

    def __repr__(self) -> str:
        return f"<HttpResponse {self.status_code}>"


class MsalHttpClient:
    """A requests-like client for msal on top of an httpx client from :mod:`m365bot.net`.

    Example::

        MsalHttpClient(settings).get("https://login.microsoftonline.com/x/v2.0/...")
    """

    def __init__(self, settings: Settings | HttpFactory, *,
                 client: httpx.Client | None = None) -> None:
        factory = settings if isinstance(settings, HttpFactory) else HttpFactory(settings)
        self.timeout = factory.timeout
        self.proxied = factory.proxy is not None
        self._client = client or factory.client()

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Any = None,
        data: Any = None,
        headers: dict[str, Any] | None = None,
    ) -> HttpResponse:
        clean = {k: str(v) for k, v in (headers or {}).items() if v is not None}
        kwargs: dict[str, Any] = {"params": params or None, "headers": clean}
        if isinstance(data, dict):
            kwargs["data"] = {
                k: v.decode() if isinstance(v, bytes) else v
                for k, v in data.items()
                if v is not None
            }
        elif isinstance(data, str | bytes):
            kwargs["content"] = data
        install_log_filter()  # msal's loggers exist by now
        started = time.perf_counter()
        with network_errors(url, self.timeout):
            resp = self._client.request(method, url, **kwargs)
        where = f"{urlsplit(url).hostname}{urlsplit(url).path}"
        log.debug("%s %s -> %d (%.0f ms)", method, where, resp.status_code,
                  (time.perf_counter() - started) * 1000)
        headers = {k.lower(): v for k, v in resp.headers.items()}
        if resp.status_code >= 500:
            # msal would raise MsalServiceError (and remember the answer in its throttle cache)
            raise identity_unavailable(resp.status_code, resp.text, headers)
        return HttpResponse(resp.status_code, resp.text, headers)

    def get(self, url: str, params: Any = None, headers: Any = None, **_: Any) -> HttpResponse:
        return self._send("GET", url, params=params, headers=headers)

    def post(
        self, url: str, params: Any = None, data: Any = None, headers: Any = None, **_: Any
    ) -> HttpResponse:
        return self._send("POST", url, params=params, data=data, headers=headers)

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"<MsalHttpClient proxy={'yes' if self.proxied else 'no'}>"


class LazyHttpClient:
    """Mixin for token sources: the sign-in HTTP client, made from ``self.http_factory`` (the
    factory) on first use (or the one given), and closed by :meth:`close`.

    Example::

        class Source(LazyHttpClient):
            def __init__(self, settings: Settings) -> None:
                self.http_factory, self._http = HttpFactory(settings), None
    """

    http_factory: HttpFactory
    _http: MsalHttpClient | None

    @property
    def http_client(self) -> MsalHttpClient:
        if self._http is None:
            self._http = MsalHttpClient(self.http_factory)
        return self._http

    def close(self) -> None:
        """Close the sign-in HTTP connection (a later token request opens a new one)."""
        http, self._http = self._http, None
        if http is not None:
            http.close()


def pause_before_retry(exc: Exception) -> None:
    """Wait before the one retry of a token request: the identity platform's Retry-After
    (at most :data:`MAX_TOKEN_RETRY_PAUSE` s, 1 s without one) plus a little jitter, so bots
    that failed together do not retry together. A lost answer is retried at once.

    Example::

        except (TransportError, IdentityUnavailable) as exc:
            pause_before_retry(exc)
    """
    if isinstance(exc, IdentityUnavailable):
        pause = min(exc.retry_after or 1.0, MAX_TOKEN_RETRY_PAUSE)
        time.sleep(pause + random.uniform(0, 0.25))


def import_msal() -> Any:
    """``import msal`` (and the submodules that log), with the redacting filter installed."""
    import msal
    import msal.oauth2cli.authcode
    import msal.oauth2cli.oauth2
    import msal.token_cache

    install_log_filter()
    return msal


__all__ = [
    "MAX_TOKEN_RETRY_PAUSE",
    "HttpResponse",
    "LazyHttpClient",
    "MsalHttpClient",
    "import_msal",
    "pause_before_retry",
]

"""The HTTP client msal uses: httpx, with trust and proxy from :class:`~m365bot.config.Settings`.

msal expects a requests-like object (``get(url, params=, headers=, **kw)``,
``post(url, params=, data=, headers=, **kw)`` returning something with ``status_code``,
``text``, ``headers`` and ``raise_for_status()``). With ``trust_env=False`` nothing from the
environment (``REQUESTS_CA_BUNDLE``, ``HTTPS_PROXY``...) overrides the settings. DEBUG logs
show method, host, path, status and time: never a query string, a body or a header value.

Also here: :func:`install_msal_log_filter`, which redacts codes, verifiers and tokens from
msal's own log records (msal logs the auth response at DEBUG in some paths).

Example::

    from m365bot.auth.http import MsalHttpClient
    client = MsalHttpClient(Settings(proxy=info["proxy_url"], ca_bundle=info["ca_bundle"]))
    msal.ConfidentialClientApplication(cid, ..., http_client=client)
"""

from __future__ import annotations

import logging
import re
import sys
import time
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from m365bot.config import Settings

if TYPE_CHECKING:
    import ssl

    import httpx
from m365bot.errors import TransportError

log = logging.getLogger(__name__)


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


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """A TLS context trusting ``settings.ca_bundle`` (or the system's CAs)."""
    import ssl

    if settings.ca_bundle:
        return ssl.create_default_context(cafile=settings.ca_bundle)
    return ssl.create_default_context()


def import_httpx() -> ModuleType:
    """``import httpx`` without its command-line client: httpx's ``__init__`` imports
    ``httpx._main`` (click, rich, pygments) whenever those are installed, which is a third of
    httpx's import time in a fresh process. The block is lifted right after, so
    ``httpx._main`` stays importable for whoever asks for it by name.

    Example::

        httpx = import_httpx()
    """
    if "httpx" not in sys.modules and "httpx._main" not in sys.modules:
        sys.modules["httpx._main"] = None  # type: ignore[assignment]  # ImportError for httpx
        try:
            import httpx
        finally:
            if sys.modules.get("httpx._main", 0) is None:
                del sys.modules["httpx._main"]
    import httpx

    return httpx


def httpx_client(
    settings: Settings,
    *,
    http2: bool = False,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """An httpx client honouring the settings' proxy, CA bundle and timeout, and nothing
    from the environment.

    Example::

        with httpx_client(settings) as c:
            c.get("https://graph.microsoft.com/v1.0/me", headers=...)
    """
    import_httpx()
    import httpx

    return httpx.Client(
        proxy=settings.proxy,
        verify=ssl_context(settings),
        trust_env=False,
        timeout=settings.timeout,
        follow_redirects=False,
        http2=http2,
        transport=transport,
    )


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}{parts.path}"


class MsalHttpClient:
    """A requests-like client for msal on top of httpx.

    Example::

        MsalHttpClient(settings).get("https://login.microsoftonline.com/x/v2.0/...")
    """

    def __init__(self, settings: Settings, *, client: httpx.Client | None = None) -> None:
        self.settings = settings
        self._client = client or httpx_client(settings)
        install_msal_log_filter()
        self.requests_sent = 0

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
        import_httpx()
        import httpx

        started = time.perf_counter()
        self.requests_sent += 1
        try:
            resp = self._client.request(method, url, **kwargs)
        except httpx.TimeoutException:
            log.debug("%s %s timed out", method, _where(url))
            raise TransportError(
                f"no answer from {urlsplit(url).hostname} within {self.settings.timeout:g} s",
                advice="check the network and proxy settings, or raise the timeout",
            ) from None
        except httpx.ProxyError as exc:
            log.debug("%s %s proxy error %s", method, _where(url), type(exc).__name__)
            raise TransportError(
                f"the proxy refused the connection to {urlsplit(url).hostname}",
                advice="check the proxy setting (M365BOT_PROXY / --proxy)",
            ) from None
        except httpx.HTTPError as exc:
            log.debug("%s %s failed: %s", method, _where(url), type(exc).__name__)
            text = str(exc)
            hint = (
                "check the CA bundle setting (ca_bundle)"
                if "CERTIFICATE" in text.upper()
                else "check the network and proxy settings"
            )
            raise TransportError(
                f"could not reach {urlsplit(url).hostname}: {type(exc).__name__}", advice=hint
            ) from None
        log.debug(
            "%s %s -> %d (%.0f ms)",
            method,
            _where(url),
            resp.status_code,
            (time.perf_counter() - started) * 1000,
        )
        headers = {k.lower(): v for k, v in resp.headers.items()}
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
        return f"<MsalHttpClient proxy={'yes' if self.settings.proxy else 'no'}>"


# -- msal log redaction -----------------------------------------------------------------------

_SECRET_KEYS = (
    "code|refresh_token|access_token|id_token|code_verifier|client_secret|client_assertion"
    "|secret|password|passwd|client_info|assertion|session_state|device_code|user_code"
    "|authtoken|tempauth|sig|ESTSAUTH|ESTSAUTHPERSISTENT"
)
_KEY_VALUE = re.compile(
    rf"""(?P<k>['"]?\b(?:{_SECRET_KEYS})\b['"]?\s*(?:[:=]|%3D)\s*['"]?)(?P<v>[^'"&\s,}}\]]+)""",
    re.IGNORECASE,
)
_JWT = re.compile(r"eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*")


class LazyHttpClient:
    """Mixin for token sources: the sign-in HTTP client, made from ``self.settings`` on
    first use (or the one given), and closed by :meth:`close`.

    Example::

        class Source(LazyHttpClient):
            def __init__(self, settings: Settings) -> None:
                self.settings, self._http = settings, None
    """

    settings: Settings
    _http: MsalHttpClient | None

    @property
    def http_client(self) -> MsalHttpClient:
        if self._http is None:
            self._http = MsalHttpClient(self.settings)
        return self._http

    def close(self) -> None:
        """Close the sign-in HTTP connection (a later token request opens a new one)."""
        http, self._http = self._http, None
        if http is not None:
            http.close()


def redact(text: str) -> str:
    """Replace token-like values and ``code=...``-style secrets with ``***``.

    Example::

        redact("{'code': 'abc', 'state': 'x'}")   # "{'code': '***', 'state': 'x'}"
    """
    text = _JWT.sub("***", text)
    return _KEY_VALUE.sub(lambda m: m.group("k") + "***", text)


class RedactingFilter(logging.Filter):
    """A logging filter that rewrites each record's message through :func:`redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: drop the args, keep the template
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(
                logging.Formatter().formatException(record.exc_info)
            )
            record.exc_info = None
        return True


_FILTER = RedactingFilter()


_FILTERED = ("msal", "httpx", "httpcore")


def install_msal_log_filter() -> None:
    """Attach the redacting filter to every ``msal``, ``httpx`` and ``httpcore`` logger that
    exists (call after importing their modules; idempotent). httpcore logs response headers
    (a redirect's ``Location`` carries the code) and httpx logs URLs at INFO.

    Example::

        import msal; install_msal_log_filter()
    """
    names = [
        n for n in logging.Logger.manager.loggerDict
        if any(n == root or n.startswith(root + ".") for root in _FILTERED)
    ]
    for name in [*_FILTERED, *names]:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def import_msal() -> Any:
    """``import msal`` (and the submodules that log), with the redacting filter installed."""
    import msal
    import msal.oauth2cli.authcode
    import msal.oauth2cli.oauth2
    import msal.token_cache

    install_msal_log_filter()
    return msal


__all__ = [
    "HttpResponse",
    "LazyHttpClient",
    "MsalHttpClient",
    "RedactingFilter",
    "httpx_client",
    "import_httpx",
    "import_msal",
    "install_msal_log_filter",
    "redact",
    "ssl_context",
]

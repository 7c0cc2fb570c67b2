"""The one way m365bot reaches the network: httpx clients made from
:class:`~m365bot.config.Settings`, and the one mapping of network failures to
:class:`~m365bot.errors.TransportError`.

msal's HTTP adapter (:mod:`m365bot.auth.http`), the Control Room and the Graph client all get
their clients here, so they trust the same CAs, go through the same proxy and fail with the
same words:

* trust: ``settings.ca_bundle`` (a PEM file) or the system's CAs. ``trust_env`` is off, so
  ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``, ``SSL_CERT_FILE`` and ``HTTPS_PROXY`` never
  override the settings. A CA bundle that holds no certificate is a
  :class:`~m365bot.errors.ConfigError` naming ``ca_bundle``;
* proxy: ``settings.proxy``. The proxy URL (which may carry a password) lives only in the
  factory, masked in its ``repr``, and in the httpx clients it makes;
* time: ``settings.timeout`` seconds per request;
* errors: :func:`network_errors` turns httpx's exceptions into one ``TransportError`` with
  advice (timeout, proxy, CA bundle, other), never showing the URL's query or a header.

Example::

    from m365bot.net import HttpFactory, network_errors
    factory = HttpFactory(Settings(proxy="http://proxy.corp:3128", ca_bundle="/etc/ca.pem"))
    with factory.client(http2=True) as client, network_errors(url, factory.timeout):
        client.get(url)
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx

from m365bot.config import Settings
from m365bot.errors import ConfigError, TransportError
from m365bot.redact import install_log_filter
from m365bot.values import Secret

log = logging.getLogger(__name__)


class HttpFactory:
    """Makes the httpx clients (sync and async) of one :class:`Settings`.

    Example::

        factory = HttpFactory(settings)
        client = factory.client(http2=True)          # for Graph
        async_client = factory.async_client()        # same trust, proxy and timeout
    """

    __slots__ = ("_proxy", "_ssl", "ca_bundle", "timeout")

    def __init__(self, settings: Settings) -> None:
        # a Secret: the proxy URL may carry a password, and this object sits in the state of
        # token providers and Graph clients (vars(), reprs, debuggers)
        self._proxy = Secret(settings.proxy) if settings.proxy else None
        self.ca_bundle = settings.ca_bundle
        self.timeout = settings.timeout
        self._ssl: ssl.SSLContext | None = None

    @property
    def proxy(self) -> str | None:
        """The proxy URL without its user name and password (for messages)."""
        if self._proxy is None:
            return None
        p = urlsplit(self._proxy.reveal())
        return f"{p.scheme}://{p.hostname}{f':{p.port}' if p.port else ''}"

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context: the CA bundle's certificates, or the system's. Built once.

        Example::

            HttpFactory(Settings(ca_bundle="notes.txt")).ssl_context()   # ConfigError
        """
        if self._ssl is None:
            self._ssl = _ssl_context(self.ca_bundle)
        return self._ssl

    def client(self, *, http2: bool = False,
               transport: httpx.BaseTransport | None = None) -> httpx.Client:
        """A sync httpx client with the settings' trust, proxy and timeout (``transport``:
        an injected one, e.g. ``httpx.MockTransport``, which then does without the proxy)."""
        return httpx.Client(**self._options(http2, transport is not None), transport=transport)

    def async_client(self, *, http2: bool = False,
                     transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
        """The async twin of :meth:`client`."""
        return httpx.AsyncClient(**self._options(http2, transport is not None),
                                 transport=transport)

    def _options(self, http2: bool, injected: bool) -> dict[str, Any]:
        install_log_filter()  # httpx and httpcore are imported by now
        proxy = self._proxy.reveal() if self._proxy is not None and not injected else None
        return {"proxy": proxy, "verify": self.ssl_context(), "trust_env": False,
                "timeout": self.timeout, "follow_redirects": False, "http2": http2}

    def __repr__(self) -> str:
        return f"<HttpFactory proxy={self.proxy!r} ca_bundle={self.ca_bundle!r}>"


def _ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    if ca_bundle is None:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=ca_bundle)
    except (ssl.SSLError, OSError, ValueError):
        # ssl.SSLError "[X509: NO_CERTIFICATE_OR_CRL_FOUND]" for a file with no PEM block
        raise ConfigError(
            f"ca_bundle {ca_bundle!r} holds no usable CA certificate", field="ca_bundle",
            advice="give a PEM file with the CA certificates to trust (-----BEGIN "
            "CERTIFICATE----- blocks) in --ca-bundle / M365BOT_CA_BUNDLE, or leave it unset "
            "to trust the system's CAs",
        ) from None


def transport_error(exc: httpx.HTTPError, url: str, timeout: float) -> TransportError:
    """The :class:`TransportError` for an httpx failure on ``url`` (host only in the text).

    Example::

        transport_error(httpx.ConnectTimeout("..."), "https://graph.microsoft.com/v1.0/me", 30)
    """
    host = urlsplit(url).hostname
    if isinstance(exc, httpx.TimeoutException):
        return TransportError(f"no answer from {host} within {timeout:g} s",
                              advice="check the network and proxy settings, or raise the timeout")
    if isinstance(exc, httpx.ProxyError):
        return TransportError(f"the proxy refused the connection to {host}",
                              advice="check the proxy setting (M365BOT_PROXY / --proxy)")
    hint = ("check the CA bundle setting (ca_bundle)" if "CERTIFICATE" in str(exc).upper()
            else "check the network and proxy settings")
    return TransportError(f"could not reach {host}: {type(exc).__name__}", advice=hint)


@contextmanager
def network_errors(url: str, timeout: float) -> Iterator[None]:
    """Turn httpx's exceptions raised inside the block into :class:`TransportError` (for sync
    and async calls alike).

    Example::

        with network_errors(url, factory.timeout):
            resp = await client.get(url)
    """
    try:
        yield
    except httpx.HTTPError as exc:
        log.debug("request to %s failed: %s", urlsplit(url).hostname, type(exc).__name__)
        raise transport_error(exc, url, timeout) from None


__all__ = ["HttpFactory", "network_errors", "transport_error"]

"""A tiny HTTPS transport on the standard library (``http.client`` + ``ssl``) for the Graph
client: one keep-alive connection per host, through the settings' HTTP proxy (CONNECT tunnel)
and trusting the settings' CA bundle, exactly as the httpx transport does.

Why: a fresh process that connects with a cached token needs no msal and no httpx; httpx,
httpcore, h11 and h2 are most of what such a process would otherwise import (bench/
bench_connect.py). Graph's answers are parsed by :mod:`m365bot.graph.core` whichever transport
carried them, and both map network failures through :func:`network_error`. HTTP/1.1 only;
the Graph client falls back to httpx (HTTP/2) for an ``https://`` proxy, a proxy with
credentials, or an injected httpx transport.

Example::

    t = StdlibTransport(settings)
    r = t.request("GET", "https://graph.microsoft.com/v1.0/me", json=None, headers={...})
    r.status_code, r.headers["content-type"], r.text
    t.close()
"""

from __future__ import annotations

import http.client
import json as jsonlib
import select
import threading
from typing import Any
from urllib.parse import quote, urlsplit

from m365bot.auth.http import ssl_context
from m365bot.config import Settings
from m365bot.errors import TransportError
from m365bot.graph.core import IDEMPOTENT


def network_error(kind: str, host: str | None, settings: Settings,
                  detail: str = "") -> TransportError:
    """The TransportError both transports raise: ``kind`` is ``timeout``, ``proxy`` or
    ``other`` (``detail``: the exception's name and text, to spot certificate failures).

    Example::

        raise network_error("timeout", "graph.microsoft.com", settings)
    """
    if kind == "timeout":
        return TransportError(f"no answer from {host} within {settings.timeout:g} s",
                              advice="check the network and proxy, or raise the timeout")
    if kind == "proxy":
        return TransportError(f"the proxy refused the connection to {host}",
                              advice="check the proxy setting (M365BOT_PROXY / --proxy)")
    name = detail.partition(":")[0]
    hint = ("check the CA bundle setting (ca_bundle)" if "CERTIFICATE" in detail.upper()
            else "check the network and proxy settings")
    return TransportError(f"could not reach {host}: {name}", advice=hint)


class StdlibResponse:
    """What the Graph client reads from an answer: ``status_code``, ``headers``, ``text``."""

    __slots__ = ("headers", "status_code", "text")

    def __init__(self, status_code: int, headers: dict[str, str], text: str) -> None:
        self.status_code = status_code
        self.headers = headers
        self.text = text


class StdlibTransport:
    """Keep-alive HTTPS connections (one per host, used one request at a time).

    Example::

        StdlibTransport(settings).request("GET", url, json=None, headers={"Accept": "*/*"})
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._ctx = ssl_context(settings)  # one context (one CA load) for every connection
        self._conns: dict[tuple[str, int], http.client.HTTPSConnection] = {}
        self._lock = threading.Lock()

    @staticmethod
    def supports(settings: Settings) -> bool:
        """False for what only httpx does: a TLS (``https://``) proxy or one with credentials."""
        if settings.proxy is None:
            return True
        p = urlsplit(settings.proxy)
        return p.scheme == "http" and p.username is None and p.password is None

    def _connection(self, host: str, port: int) -> tuple[http.client.HTTPSConnection, bool]:
        conn = self._conns.get((host, port))
        if conn is not None and conn.sock is not None:
            # like httpcore: an idle connection whose socket is readable was closed by the peer
            if not select.select([conn.sock], [], [], 0)[0]:
                return conn, True
            conn.close()
        if self.settings.proxy:
            p = urlsplit(self.settings.proxy)
            conn = http.client.HTTPSConnection(p.hostname or "", p.port or 80,
                                               timeout=self.settings.timeout, context=self._ctx)
            conn.set_tunnel(host, port)
        else:
            conn = http.client.HTTPSConnection(host, port, timeout=self.settings.timeout,
                                               context=self._ctx)
        self._conns[(host, port)] = conn
        return conn, False

    def request(self, method: str, url: str, *, json: Any = None,
                headers: dict[str, str] | None = None) -> StdlibResponse:
        """Send one request; network failures raise :class:`TransportError`."""
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or 443
        # like httpx: percent-encode what a request line cannot carry (spaces, non-ASCII),
        # leaving existing escapes and reserved characters alone
        target = quote((parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                       safe="!#$%&'()*+,/:;=?@[]~")
        hdrs = dict(headers or {})
        body = None
        if json is not None:
            body = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":"),
                                 allow_nan=False).encode()
            hdrs.setdefault("Content-Type", "application/json")
        with self._lock:
            for attempt in (1, 2):
                conn, reused = self._connection(host, port)
                try:
                    conn.request(method, target, body=body, headers=hdrs)
                    resp = conn.getresponse()
                    data = resp.read()
                except TimeoutError:
                    conn.close()
                    raise network_error("timeout", host, self.settings) from None
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                    conn.close()
                    # a kept-alive connection the server dropped: resend once if that is safe
                    if reused and attempt == 1 and method.upper() in IDEMPOTENT:
                        continue
                    raise network_error("other", host, self.settings,
                                        "RemoteProtocolError") from None
                except OSError as exc:
                    conn.close()
                    if str(exc).startswith("Tunnel connection failed"):
                        raise network_error("proxy", host, self.settings) from None
                    raise network_error("other", host, self.settings,
                                        f"{type(exc).__name__}: {exc}") from None
                except http.client.HTTPException as exc:
                    conn.close()
                    raise network_error("other", host, self.settings,
                                        type(exc).__name__) from None
                if resp.will_close:
                    conn.close()
                break
        merged: dict[str, str] = {}
        for k, v in resp.getheaders():
            merged[k] = f"{merged[k]}, {v}" if k in merged else v
        charset = resp.headers.get_content_charset() or "utf-8"
        try:
            text = data.decode(charset, errors="replace")
        except LookupError:
            text = data.decode("utf-8", errors="replace")
        return StdlibResponse(resp.status, merged, text)

    def close(self) -> None:
        """Close every connection."""
        with self._lock:
            for conn in self._conns.values():
                conn.close()
            self._conns.clear()


__all__ = ["StdlibResponse", "StdlibTransport", "network_error"]

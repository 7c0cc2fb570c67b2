"""The loopback redirect listener for the authorization-code flow (RFC 8252 §7.3, §8.3).

It binds 127.0.0.1 (or ::1) only, on the redirect URL's port (none given: an ephemeral
port, and the redirect URL sent to Entra then carries it), answers the first request on the
redirect path exactly once, then closes; a timeout ends it. Other paths get a 404 and do not
count. The page it answers with says nothing about the code.

:meth:`LoopbackListener.receive` keeps the browser waiting until the caller knows how the
sign-in ended, so the person sees "Sign-in finished" only when the bot accepted it, and
otherwise a page saying what is wrong and how to fix it.

Example::

    with LoopbackListener.open("http://localhost:8400") as listener:
        open_browser(auth_uri_for(listener.redirect_uri))
        callback = listener.receive(timeout=300)
        callback.settle(use)      # "Sign-in finished", or the page of use()'s error
"""

from __future__ import annotations

import contextlib
import errno
import html
import logging
import socket
import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit, urlunsplit

from m365bot.errors import AuthError, ConfigError, M365BotError

log = logging.getLogger(__name__)
T = TypeVar("T")

_PAGE = (
    b"<!doctype html><html><head><meta charset='utf-8'><title>m365bot</title></head>"
    b"<body><p>Sign-in finished. You can close this window and return to your bot.</p>"
    b"</body></html>"
)
_MAX_REQUEST = 16 * 1024
_POLL_EVERY = 0.2  # seconds between calls of ``poll`` (e.g. "did the browser command fail?")


def failure_page(error: M365BotError) -> bytes:
    """The page the browser shows when the bot refused the sign-in: what is wrong and the fix,
    in the error's own words (which never hold a code, a token or a secret)."""
    fix = f"<p id='fix'><b>Fix:</b> {html.escape(error.advice)}</p>" if error.advice else ""
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>m365bot: sign-in failed"
        "</title></head><body><h1>Sign-in failed</h1>"
        f"<p id='error'>{html.escape(error.message)}</p>{fix}"
        "<p>The bot did not keep this sign-in. Close this window and start again.</p>"
        "</body></html>"
    ).encode()


class Callback:
    """The redirect that arrived: its query ``params``, and the browser still waiting for a
    page. Answer it once, with :meth:`succeed` or :meth:`fail`."""

    def __init__(self, conn: socket.socket, params: dict[str, str]) -> None:
        self._conn: socket.socket | None = conn
        self.params = params

    def settle(self, work: Callable[[dict[str, str]], T]) -> T:
        """``work(params)``, then the browser's answer from how it ended: "Sign-in finished"
        when it returned, the error's page when it raised an M365BotError, a generic failure
        page for anything else (re-raised in both cases)."""
        try:
            result = work(self.params)
        except M365BotError as exc:
            self.fail(exc)
            raise
        except BaseException:
            self.fail(AuthError("the sign-in could not be completed", code="internal",
                                advice="see the bot's output, then start the sign-in again"))
            raise
        self.succeed()
        return result

    def succeed(self) -> None:
        """Show "Sign-in finished" and close the connection."""
        self._answer(200, _PAGE)

    def fail(self, error: M365BotError) -> None:
        """Show what went wrong (:func:`failure_page`) and close the connection."""
        self._answer(400, failure_page(error))

    def _answer(self, status: int, body: bytes) -> None:
        if self._conn is not None:
            _reply(self._conn, status, body, html=True)
            self._conn.close()
            self._conn = None


def parse_redirect(url: str) -> tuple[str, str, int, str]:
    """(bind address, host as written, port (0 = any), path) of a loopback redirect URL."""
    field = "redirect_url"
    try:
        parts = urlsplit(url)
        port = parts.port or 0
    except ValueError:
        raise ConfigError(f"redirect URL {url!r} is not a valid URL", field=field,
                          advice="use e.g. http://localhost:8400") from None
    host = (parts.hostname or "").lower()
    if parts.scheme != "http" or host not in ("localhost", "127.0.0.1", "::1"):
        raise ConfigError(
            f"redirect URL {url!r} is not a loopback http URL, so this bot cannot receive "
            "the sign-in", field=field,
            advice="register and use a loopback redirect URL such as http://localhost:8400 "
            "(Mobile and desktop applications platform in the app registration)",
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"redirect URL {url!r} must not have a query or fragment",
                          field=field, advice="remove everything after the path")
    bind = "::1" if host == "::1" else "127.0.0.1"
    return bind, host, port, parts.path or "/"


def _suggest_free(bind: str, host: str, port: int, path: str) -> str:
    """A redirect URL like the busy one on the first free port after ``port`` (checked by
    binding it), or without a port (any free one) if none of the next 50 is free."""
    family = socket.AF_INET6 if bind == "::1" else socket.AF_INET
    netloc = "[::1]" if host == "::1" else host
    for candidate in range(port + 1, min(port + 51, 65536)):
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((bind, candidate))
            except OSError:
                continue
        return f"http://{netloc}:{candidate}{path if path != '/' else ''}"
    return f"http://{netloc}{path if path != '/' else ''} (no port: any free one)"


class LoopbackListener:
    """A one-shot HTTP listener on loopback. Use :meth:`open`, then :meth:`receive` (or
    :meth:`wait`)."""

    def __init__(self, sock: socket.socket, redirect_uri: str, path: str) -> None:
        self._sock: socket.socket | None = sock
        self.redirect_uri = redirect_uri
        self.path = path
        self.address = sock.getsockname()

    @classmethod
    def open(cls, redirect_url: str) -> LoopbackListener:
        """Bind the redirect URL's port on loopback; ConfigError if it is taken."""
        bind, host, port, path = parse_redirect(redirect_url)
        family = socket.AF_INET6 if bind == "::1" else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((bind, port))
            sock.listen(4)
        except OSError as exc:
            sock.close()
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                raise ConfigError(
                    f"port {port} of the redirect URL {redirect_url} is in use by another "
                    "program", field="redirect_url",
                    advice="close the program using that port, or register and use another "
                    f"loopback redirect URL (e.g. {_suggest_free(bind, host, port, path)})",
                ) from None
            raise ConfigError(f"cannot listen on {redirect_url}: {exc.strerror}",
                              field="redirect_url", advice="use http://localhost:PORT") from None
        if port:
            redirect_uri = redirect_url
        else:
            actual = sock.getsockname()[1]
            parts = urlsplit(redirect_url)
            netloc = f"[{host}]:{actual}" if host == "::1" else f"{host}:{actual}"
            redirect_uri = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        log.debug("listening on %s", redirect_uri)
        return cls(sock, redirect_uri, path)

    def wait(self, *, timeout: float) -> dict[str, str]:
        """The redirect's query parameters (first value each), answered at once with "Sign-in
        finished". Raises AuthError on timeout or a malformed callback. Closes the listener."""
        callback = self.receive(timeout=timeout)
        callback.succeed()
        return callback.params

    def receive(self, *, timeout: float,
                poll: Callable[[], None] | None = None) -> Callback:
        """The redirect, with the browser kept waiting for the caller's answer. ``poll`` is
        called every fraction of a second while waiting and may raise to give up at once (a
        browser command that failed). Raises AuthError on timeout or a malformed callback
        (duplicate parameters; the browser is shown why). Closes the listener in every case."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._sock is None:
                    raise AuthError(
                        f"no sign-in arrived at {self.redirect_uri} within {timeout:g} s",
                        code="timeout",
                        advice="finish the sign-in in the browser sooner, or allow more time "
                        "(--signin-timeout); if the browser showed an error instead (e.g. "
                        "AADSTS50011), register this redirect URL in the app "
                        "(Authentication > Mobile and desktop applications)",
                    )
                if poll is not None:
                    poll()
                    remaining = min(remaining, _POLL_EVERY)
                self._sock.settimeout(remaining)
                try:
                    conn, _ = self._sock.accept()
                except TimeoutError:
                    continue
                callback = self._serve(conn, deadline)
                if callback is not None:
                    return callback
                conn.close()
        finally:
            self.close()

    def _serve(self, conn: socket.socket, deadline: float) -> Callback | None:
        conn.settimeout(max(0.1, min(10.0, deadline - time.monotonic())))
        data = b""
        try:
            while b"\r\n\r\n" not in data and len(data) < _MAX_REQUEST:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            return None
        line = data.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "GET":
            _reply(conn, 405, b"method not allowed")
            return None
        target = urlsplit(parts[1])
        if target.path != self.path:
            _reply(conn, 404, b"not found")
            return None
        raw = parse_qs(target.query, keep_blank_values=True)
        callback = Callback(conn, {k: v[0] for k, v in raw.items()})
        dupes = sorted(k for k, v in raw.items() if len(v) > 1)
        if dupes:
            error = AuthError(
                f"the sign-in callback repeated the parameter(s) {', '.join(dupes)}",
                code="invalid_callback", advice="start the sign-in again",
            )
            callback.fail(error)
            raise error
        return callback

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> LoopbackListener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _reply(conn: socket.socket, status: int, body: bytes, *, html: bool = False) -> None:
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}[status]
    ctype = "text/html; charset=utf-8" if html else "text/plain"
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\n"
        "Referrer-Policy: no-referrer\r\nConnection: close\r\n\r\n"
    ).encode()
    with contextlib.suppress(OSError):
        conn.sendall(head + body)


__all__ = ["Callback", "LoopbackListener", "failure_page", "parse_redirect"]

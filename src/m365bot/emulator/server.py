"""The emulator's network edge: HTTPS (HTTP/2 and HTTP/1.1 on Hypercorn) and the CONNECT
proxy, on one event loop in a background thread.

* Direct port: TLS with ALPN ``h2``/``http/1.1``, then Hypercorn's protocol handling.
* Proxy port: a CONNECT head (proxy.py), then TLS on the same connection, in process, and the
  same HTTP handling — a tunnel costs one descriptor, not three, and the app knows the request
  came through a tunnel (:data:`CONNECTION` in the ASGI scope).
* Latency (``latency()`` ms, read on each use) is charged once per round trip the network
  would cost: the CONNECT answer here; the TLS handshake and each request in app.py (the
  handshake's with the connection's first request, so that a control API call, which is
  never delayed, can always turn latency off again).
* Timeouts: a TLS handshake must finish within ``handshake``; a connection with no request in
  progress (idle, or still sending its headers) is closed after ``idle``; a proxy request head
  must arrive within ``header``.
* At the file descriptor limit a new connection is accepted and closed at once (a spare
  descriptor is kept for that), with one log line, instead of leaving clients waiting.

Example::

    server = BackgroundServer(app, ca, host="127.0.0.1", port=0, proxy_port=0)
    server.start()          # returns once both ports accept connections
    server.https_port, server.proxy_port
    server.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import resource
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import cast

from hypercorn.app_wrappers import ASGIWrapper
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.asyncio.worker_context import WorkerContext
from hypercorn.config import Config
from hypercorn.typing import ASGIFramework
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from m365bot.emulator.errors import EmulatorError
from m365bot.emulator.proxy import ESTABLISHED, MAX_HEAD, read_connect
from m365bot.emulator.tls import LocalCA

log = logging.getLogger(__name__)

CONNECTION = "m365bot.connection"  # ASGI scope key holding the request's :class:`Connection`
_OUT_OF_DESCRIPTORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class ServerError(EmulatorError):
    """The emulator could not start (port in use, bad certificate, ...)."""


@dataclass(frozen=True)
class Timeouts:
    """Seconds before the server gives up on a silent client (see module docs)."""

    handshake: float = 10.0
    idle: float = 30.0
    header: float = 15.0


@dataclass
class Connection:
    """What the app may know about the connection a request came on."""

    tunnel: str | None  # the CONNECT host, or None for the direct port
    abort: Callable[[], None]  # drop the connection (a reset fault)
    unpaid_round_trips: int = 1  # the TLS handshake's, charged with the first request

    def take_unpaid(self) -> int:
        """The round trips not yet charged (the app charges them with its next request)."""
        owed, self.unpaid_round_trips = self.unpaid_round_trips, 0
        return owed


def _listen(host: str, port: int, option: str) -> socket.socket:
    # proto=IPPROTO_TCP and TCP_NODELAY: without them a response body waits for a delayed
    # ACK (40 ms on Linux) behind its headers.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServerError(
            f"cannot listen on {host}:{port}: {exc.strerror}; pick another {option} or use 0"
        ) from None
    sock.listen(512)
    sock.setblocking(False)
    return sock


# the most of an unread request body drained before an answer ends: a 4 MiB upload chunk or
# a 4 MB JSON body; past it the connection may drop, as it would have anyway
DRAIN_LIMIT = 8 * 1024 * 1024


def _tagged(app: ASGIApp, connection: Connection) -> ASGIWrapper:
    async def tagged(scope: Scope, receive: Receive, send: Send) -> None:
        scope[CONNECTION] = connection
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        body_done = False

        async def tracked() -> Message:
            nonlocal body_done
            message = await receive()
            body_done = body_done or message["type"] == "http.disconnect" or not message.get(
                "more_body", False)
            return message

        async def drained_send(message: Message) -> None:
            # An answer given before the body was read (a fault, 401, 413 or 429) must not
            # lose the connection under the client, which is still sending: Hypercorn 0.18's
            # HTTP/2 drops the whole connection when request data arrives after the response
            # ended (KeyError in _handle_events, pgjones/hypercorn#329), and over HTTP/1.1 it
            # closes the socket with the body unread, so the client's next write meets a
            # reset and the answer is lost with it. Read the rest first.
            if (message["type"] == "http.response.body" and not message.get("more_body")
                    and not body_done):
                drained = 0
                while not body_done and drained <= DRAIN_LIMIT:
                    drained += len((await tracked()).get("body", b""))
            await send(message)

        await app(scope, tracked, drained_send)

    return ASGIWrapper(cast("ASGIFramework", tagged))


class _Spare:
    """One descriptor held back, so that at the limit a waiting client can be refused."""

    def __init__(self) -> None:
        self.fd: int | None = None
        self.take()

    def take(self) -> None:
        if self.fd is None:
            with contextlib.suppress(OSError):
                self.fd = os.open(os.devnull, os.O_RDONLY)

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class BackgroundServer:
    def __init__(
        self,
        app: ASGIApp,
        ca: LocalCA,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        proxy_port: int | None = 0,
        latency: Callable[[], float] = lambda: 0.0,
        timeouts: Timeouts | None = None,
    ) -> None:
        self.app = app
        self.ca = ca
        self.host = host
        self.requested_port = port
        self.requested_proxy_port = proxy_port
        self.latency = latency
        self.timeouts = timeouts or Timeouts()
        self.https_port = 0
        self.proxy_port: int | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._at_limit = False
        self._ssl = ca.server_context()
        self._context = WorkerContext(None)
        self._config = Config()
        self._config.keep_alive_timeout = self.timeouts.idle
        self._config.include_server_header = False
        self._config.h11_max_incomplete_size = MAX_HEAD
        self._config.errorlog = logging.getLogger("m365bot.emulator.hypercorn")

    # -- lifecycle (any thread) ----------------------------------------------------------------

    def start(self, timeout: float = 15.0) -> None:
        listeners = [_listen(self.host, self.requested_port, "--port")]
        self.https_port = int(listeners[0].getsockname()[1])
        if self.requested_proxy_port is not None:
            try:
                listeners.append(_listen(self.host, self.requested_proxy_port, "--proxy-port"))
            except ServerError:
                listeners[0].close()
                raise
            self.proxy_port = int(listeners[1].getsockname()[1])
        self._thread = threading.Thread(
            target=self._run, args=(listeners,), name=f"m365bot-emulator-{self.https_port}",
            daemon=True,
        )
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            self.stop()
            raise ServerError(f"the emulator did not start: {self._error or 'timed out'}")

    def stop(self) -> None:
        """Stop serving, close every connection and wait for the thread (idempotent)."""
        loop, stop = self.loop, self._stop
        if loop is not None and stop is not None and loop.is_running():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(10)
        self._thread = None

    def _run(self, listeners: list[socket.socket]) -> None:
        try:
            asyncio.run(self._main(listeners))
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
        finally:
            for sock in listeners:
                sock.close()

    async def _main(self, listeners: list[socket.socket]) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        spare = _Spare()
        handlers: list[Callable[[socket.socket], Awaitable[None]]] = [self._direct, self._proxied]
        accepting = [
            asyncio.create_task(self._accept(sock, handler, spare))
            for sock, handler in zip(listeners, handlers, strict=False)
        ]
        self._ready.set()
        await self._stop.wait()
        for task in accepting:
            task.cancel()
        await self._close_connections()
        spare.release()

    async def _close_connections(self) -> None:
        """Idle connections close at once; busy ones get a short grace, then are dropped."""
        await self._context.terminated.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all_done(), 0.3)
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all_done(), 2)

    async def _all_done(self) -> None:
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    # -- accepting ------------------------------------------------------------------------------

    async def _accept(
        self,
        listener: socket.socket,
        handle: Callable[[socket.socket], Awaitable[None]],
        spare: _Spare,
    ) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(listener)
            except OSError as exc:
                if exc.errno not in _OUT_OF_DESCRIPTORS:
                    log.warning("accept failed: %s", exc.strerror)
                    await asyncio.sleep(0.05)
                    continue
                await self._refuse_at_limit(listener, spare)
                continue
            self._at_limit = False
            spare.take()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._spawn(handle(conn))

    async def _refuse_at_limit(self, listener: socket.socket, spare: _Spare) -> None:
        if not self._at_limit:
            self._at_limit = True
            limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            log.warning(
                "out of file descriptors (limit %d, %d connections open): refusing new "
                "connections until some close; raise the limit with 'ulimit -n'",
                limit, len(self._tasks),
            )
        spare.release()
        try:
            conn, _ = listener.accept()
            conn.close()
        except OSError:
            await asyncio.sleep(0.05)  # nothing to refuse, or no spare: do not spin
        spare.take()

    def _spawn(self, work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(self._guarded(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _guarded(work: Awaitable[None]) -> None:
        try:
            await work
        except (OSError, ssl.SSLError, TimeoutError, asyncio.CancelledError):
            pass  # the client went away or was too slow: nothing to answer
        except Exception:  # never let one connection's error stop the server
            log.exception("connection failed")

    async def _charge_round_trip(self) -> None:
        latency = float(self.latency() or 0)
        if latency > 0:
            await asyncio.sleep(latency / 1000)

    async def _streams(
        self, conn: socket.socket, tls: bool
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        loop = asyncio.get_running_loop()
        opened: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            loop.create_future()
        )

        def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            opened.set_result((reader, writer))

        protocol = asyncio.StreamReaderProtocol(asyncio.StreamReader(limit=MAX_HEAD), connected)
        try:
            await loop.connect_accepted_socket(
                lambda: protocol, conn, ssl=self._ssl if tls else None,
                ssl_handshake_timeout=self.timeouts.handshake if tls else None,
            )
        except BaseException:
            conn.close()
            raise
        return await opened

    # -- the two ports --------------------------------------------------------------------------

    async def _direct(self, conn: socket.socket) -> None:
        reader, writer = await self._streams(conn, tls=True)
        with self._open(writer):
            await self._serve_http(reader, writer, tunnel=None)

    async def _proxied(self, conn: socket.socket) -> None:
        reader, writer = await self._streams(conn, tls=False)
        with self._open(writer):
            host = await read_connect(reader, writer, header_timeout=self.timeouts.header)
            if host is None:
                return
            # Bytes sent before our answer would be lost to TLS: read nothing more until then.
            cast(asyncio.Transport, writer.transport).pause_reading()
            await self._charge_round_trip()  # the CONNECT answer
            writer.write(ESTABLISHED)
            await writer.start_tls(self._ssl, ssl_handshake_timeout=self.timeouts.handshake)
            await self._serve_http(reader, writer, tunnel=host)

    @contextlib.contextmanager
    def _open(self, writer: asyncio.StreamWriter) -> Iterator[None]:
        """Track a connection for shutdown; however its handling ends, it is closed."""
        self._writers.add(writer)
        try:
            yield
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def _serve_http(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, tunnel: str | None
    ) -> None:
        app = _tagged(self.app, Connection(tunnel, writer.transport.abort))
        loop = asyncio.get_running_loop()
        await TCPServer(app, loop, self._config, self._context, {}, reader, writer)


__all__ = ["CONNECTION", "BackgroundServer", "Connection", "ServerError", "Timeouts"]
